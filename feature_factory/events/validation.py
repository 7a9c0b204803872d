"""A source's validation rules as SQL, each beside the quarantine reason and text it produces.

`row_rules` turns a `SourceSpec` (catalog/sources.py) into the ordered list of row rules; a row
gets the reason of the first rule whose condition holds. The order is: malformed record, blank
key, event time (unparseable, in the future, before the first partition), then per column in
declaration order: required, number type, accepted values, min, max. The batch-level reasons
(duplicate row id within the batch or of a stored row) follow in `duplicate_reasons`.

The SQL is portable (TRIM, LOWER, IN, CASE): both warehouses run it as is. Expressions are given
the relation's column names: `raw(col)` the landed text, `typed(col)` the parsed value (number or
timestamp) of a typed column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from feature_factory.catalog.sources import ColumnSpec, SourceSpec
from feature_factory.warehouse.sql import sql_literal

MALFORMED_ROW = "malformed_row"
NULL_OR_EMPTY_KEY = "null_or_empty_key"
UNPARSEABLE_TIMESTAMP = "unparseable_timestamp"
TIMESTAMP_IN_FUTURE = "timestamp_in_future"
TIMESTAMP_BEFORE_START = "timestamp_before_start"
UNSUPPORTED_FILE_TYPE = "unsupported_file_type"
UNREADABLE_FILE = "unreadable_file"
ERASED_ENTITY = "erased_entity"  # the row's entity key was erased (events/tombstones.py)
MALFORMED_TEXT = ("the CSV record does not parse as one row of the header's columns (wrong number of fields, "
                  "broken quoting or a field over the size limit)")
# Rules whose failure leaves the row without a day (quarantined once per file version).
UNDATED = (UNPARSEABLE_TIMESTAMP, TIMESTAMP_IN_FUTURE, TIMESTAMP_BEFORE_START)


@dataclass(frozen=True)
class Rule:
    reason: str  # the code stored in the quarantine table's `reason`
    text: str  # the human explanation stored in `detail`
    condition: str  # SQL, true when the row breaks the rule


def blank(expr: str) -> str:
    return f"({expr} IS NULL OR TRIM({expr}) = '')"


def value_sql(column: ColumnSpec, raw: str) -> str:
    """The value features see for a string column: normalized text, then mapped."""
    expr = {"none": raw, "trim": f"TRIM({raw})", "lower": f"LOWER(TRIM({raw}))",
            "upper": f"UPPER(TRIM({raw}))"}[column.normalize]
    if not column.value_map:
        return expr
    cases = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(v)}" for k, v in column.value_map)
    return f"(CASE {expr} {cases} ELSE {expr} END)"


def row_rules(
    spec: SourceSpec, raw: Callable[[str], str], typed: Callable[[str], str], *, future: str, start: str,
    row_error: str | None = None, time_reference: str = "when the file was staged",
) -> list[Rule]:
    """The ordered row rules of `spec`. `future`/`start` are timestamp SQL literals bounding the
    event time; `row_error` the reader's malformed-record column (landing files only)."""
    rules: list[Rule] = []
    if row_error:
        rules.append(Rule(MALFORMED_ROW, MALFORMED_TEXT, f"{row_error} IS NOT NULL"))
    keys = spec.key_columns
    rules.append(Rule(NULL_OR_EMPTY_KEY, f"{' or '.join(keys)} is NULL or empty",
                      " OR ".join(blank(raw(k)) for k in keys)))
    ts, t = spec.event_time, typed(spec.event_time)
    rules += [
        Rule(UNPARSEABLE_TIMESTAMP, f"{ts} is missing or not an ISO-8601 timestamp; the row belongs to no day",
             f"{t} IS NULL"),
        Rule(TIMESTAMP_IN_FUTURE, f"{ts} is later than {time_reference}", f"{t} > {future}"),
        Rule(TIMESTAMP_BEFORE_START, f"{ts} is before the first daily partition (FEATURE_FACTORY_START_DATE)",
             f"{t} < {start}"),
    ]
    for c in spec.columns:
        if c.name in keys or c.name == ts:
            continue
        r = raw(c.name)
        if c.required:
            rules.append(Rule(c.reason("required"), f"{c.name} is missing (blank)", blank(r)))
        if c.type == "number":
            v = typed(c.name)
            rules.append(Rule(c.reason("type"), f"{c.name} is not a finite number",
                              f"NOT {blank(r)} AND ({v} IS NULL OR NOT ({v} > -1e308 AND {v} < 1e308))"))
            if c.min is not None:
                text = f"{c.name} is negative" if c.min == 0 else f"{c.name} is below {c.min:g}"
                rules.append(Rule(c.reason("min"), text, f"{v} < {c.min!r}"))
            if c.max is not None:
                rules.append(Rule(c.reason("max"), f"{c.name} is above {c.max:g}", f"{v} > {c.max!r}"))
        if c.accepted:
            val = value_sql(c, r)
            allowed = ", ".join(sql_literal(a) for a in c.accepted)
            rules.append(Rule(c.reason("accepted"), f"{c.name} is not one of {', '.join(c.accepted)}",
                              f"{val} IS NULL OR {val} NOT IN ({allowed})"))
    return rules


def duplicate_reasons(spec: SourceSpec) -> tuple[Rule, Rule]:
    """(within the batch, of a stored row): the texts; the SQL is the ingestion's batch statement."""
    rid = spec.row_id
    return (Rule(f"duplicate_{rid}_in_batch", f"{rid} already seen earlier in this batch (file, row order)", ""),
            Rule(f"duplicate_{rid}_stored", f"{rid} already stored in {spec.raw_table} in another partition", ""))


def reason_case(rules: list[Rule]) -> str:
    """SQL: the first failing rule's reason, NULL for a valid row."""
    return "CASE " + " ".join(f"WHEN {r.condition} THEN {sql_literal(r.reason)}" for r in rules) + " END"


def texts(spec: SourceSpec) -> dict[str, str]:
    """reason -> text of every reason the source can produce (rows and files)."""
    dummy = row_rules(spec, lambda c: c, lambda c: c, future="NULL", start="NULL", row_error="e")
    out = {r.reason: r.text for r in dummy}
    out.update({r.reason: r.text for r in duplicate_reasons(spec)})
    if spec.entity_keys:
        keys = ", ".join(f"{c} ({e})" for e, c in spec.entity_keys)
        out[ERASED_ENTITY] = f"the row's key {keys} was erased (a tombstone in erased_entities): kept out of {spec.raw_table}"
    return out


def detail_sql(reason_texts: dict[str, str], column: str = "row_reason") -> str:
    """SQL turning a reason code column into its text (the quarantine table's `detail`)."""
    cases = " ".join(f"WHEN {sql_literal(r)} THEN {sql_literal(t)}" for r, t in reason_texts.items())
    return f"CASE {column} {cases} END"
