"""The table contracts name real assets, each owned by the domain whose group it is in."""

from feature_factory import tables


def test_every_contract_is_an_asset_of_its_owner():
    from feature_factory.definitions import defs

    groups = {s.key: s.group_name for s in defs.resolve_all_asset_specs()}
    assert {t.name: groups.get(t.key) for t in tables.ALL} == {t.name: t.owner for t in tables.ALL}
    assert len(tables.BY_NAME) == len(tables.ALL)  # no name written twice
