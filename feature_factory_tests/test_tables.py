"""The table contracts name real assets, each owned by the domain whose group it is in."""

from feature_factory import tables


def test_every_contract_is_an_asset_of_its_owner():
    from feature_factory.definitions import defs

    groups = {s.key: s.group_name for s in defs.resolve_all_asset_specs()}
    assert {t.name: groups.get(t.key) for t in tables.ASSETS} == {t.name: t.owner for t in tables.ASSETS}
    assert len(tables.BY_NAME) == len(tables.ALL)  # no name written twice


def test_contract_columns_are_described_once_and_match_what_the_code_writes():
    from feature_factory.monitoring.statistics.summary import QUANTILE_COLUMNS

    for t in tables.ALL:
        assert len(set(t.names)) == len(t.names), t.name
        assert all(c.description and c.type for c in t.columns), t.name
        assert t.features_after is None or t.features_after in t.names, t.name
    for t in (tables.FEATURE_STATS, tables.FEATURE_STATS_BASELINE):
        assert set(QUANTILE_COLUMNS) <= set(t.names), t.name
    assert tables.PATCH_CANDIDATES.ddl().startswith("patch_id VARCHAR, feature VARCHAR, action VARCHAR")


def test_feature_columns_go_where_the_contract_says():
    import dagster as dg

    f = dg.TableColumn("revenue_7d", "double", description="Revenue.")
    schema = tables.CUSTOMER_FEATURES.column_schema([f])
    assert [c.name for c in schema.columns] == ["customer_id", "snapshot_date", "revenue_7d", "computed_at"]
    live = tables.FEATURE_STATS.column_schema(live=[("feature", "VARCHAR"), ("new_metric", "DOUBLE")])
    assert [(c.name, c.type, c.description) for c in live.columns] == [
        ("feature", "varchar", "The customer_features column."), ("new_metric", "double", None)]
