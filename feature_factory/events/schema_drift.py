"""Schema drift of a landing file (or a table source) against its source's columns, and what to do.

Three cases, each with an action from the source's policy (`SchemaDriftSpec`: the sources file's
`schema_drift:`, or for the churn example the raw_events run config's `schema_drift`, converted by
`policy_from_config`): an extra column, a missing declared column, a changed type. Types are judged
from values with one aggregate SQL probe over the staged (all-VARCHAR) rows, because a CSV has no
types and a Parquet writer may store anything as text: e.g. an amount written as "12.50 USD", or an
event time as epoch seconds.

- `judge_columns`: which file column each declared column is read from (`from:`, its own name or
  an alias), the extra/missing findings, and a file-level quarantine (reason, detail) when no
  declared column is in the header, or a missing column under `missing_column: quarantine`;
- `judge_table`: the same for a warehouse-table source, which has nothing to quarantine;
- `judge_types`: a number column or the event time whose staged values stopped parsing: the
  changed-type findings and the lossless casts to re-read the file with.

Findings are recorded per (source, landing file) in `landing_schema_drift`. No Dagster here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from feature_factory import tables
from feature_factory.catalog.sources import SchemaDriftSpec, SourceSpec
from feature_factory.events import validation as rules
from feature_factory.events.contract import CONTRACT_COLUMNS, DriftAction
from feature_factory.warehouse.interface import Session
from feature_factory.warehouse.sql import sql_literal

if TYPE_CHECKING:  # only passed in (Dagster classes: the resource and the run config)
    from feature_factory.events.config import SchemaDriftPolicy
    from feature_factory.warehouse.base import Warehouse

SCHEMA_DRIFT_DDL = f"CREATE TABLE IF NOT EXISTS {tables.LANDING_SCHEMA_DRIFT} ({tables.LANDING_SCHEMA_DRIFT.ddl()})"
# By action value; `quarantine` is a declared source's missing_column action (the file is rejected).
_SEVERITY = {"auto_adapt": "info", "alert": "warning", "fail": "error", "quarantine": "error"}
EVENTS = "events"  # the source of the churn example's findings (rows from before the column: NULL)
# Plausible epoch magnitudes (1973..2286): seconds, then milliseconds.
_EPOCH_RANGES = ((1e8, 1e10, 1000), (1e11, 1e13, 1))


class SchemaDriftError(ValueError):
    """A landing file's schema drifted in a way the policy says must stop the run."""


@dataclass(frozen=True)
class Finding:
    kind: str  # extra_column | missing_column | changed_type
    column: str
    detail: str
    action: DriftAction | str  # auto_adapt | alert | fail, or quarantine (a missing column)
    severity: str  # info | warning | error

    @property
    def action_name(self) -> str:
        return getattr(self.action, "value", self.action)


def failures(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.action_name == DriftAction.fail.value]


def map_onto(file_columns: list[str], targets, aliases: dict[str, str]) -> tuple[dict[str, str | None], list[str]]:
    """(target column -> file column or None, extra file columns): a file column is read for the
    target its alias names, else for the target of its own name; the first match wins."""
    source: dict[str, str | None] = dict.fromkeys(targets)
    extra = []
    for col in file_columns:
        target = aliases.get(col, col)
        if target in source and source[target] is None:
            source[target] = col
        else:
            extra.append(col)
    return source, extra


def column_findings(extra: list[str], missing: list[str], extra_action, missing_action,
                    what: str = "the contract", adapted: str = "; read as NULL",
                    alias_field: str = "schema_drift.column_aliases") -> list[Finding]:
    """Findings for extra and missing columns under their actions (`what` names the expected
    columns' owner in the text; `adapted` says what a non-failing missing column becomes)."""
    adapt = {DriftAction.fail.value: "", "quarantine": "; the file is quarantined"}
    findings = [_finding("extra_column", c, f"column {c!r} is not in {what}"
                         + adapt.get(_value(extra_action), "; ignored"), extra_action) for c in extra]
    for col in missing:
        close = extra[0] if len(missing) == 1 and len(extra) == 1 else similar(col, extra)
        hint = f"; possibly renamed to {close!r} (map it with {alias_field})" if close else ""
        noun = "contract column" if what == "the contract" else "column"
        findings.append(_finding("missing_column", col, f"{noun} {col!r} is missing"
                                 + adapt.get(_value(missing_action), adapted) + hint, missing_action))
    return findings


def similar(missing: str, extra: list[str]) -> str | None:
    """The extra file column that most looks like a renamed `missing` one: the closest by difflib
    (ratio >= 0.6), else one containing the other's name (`amount` / `amount_usd`), else a time
    column for a time column (`event_ts` / `date`); None when nothing is close."""
    import difflib

    if not extra:
        return None
    close = difflib.get_close_matches(missing, extra, n=1, cutoff=0.6)
    if close:
        return close[0]
    contains = [c for c in extra if len(min(c, missing, key=len)) >= 3 and (missing in c or c in missing)]
    if contains:
        return contains[0]
    times = [c for c in extra if _TIME_WORDS & set(c.split("_"))]
    return times[0] if _TIME_WORDS & set(missing.split("_")) and len(times) == 1 else None


def _from_hints(spec: SourceSpec, missing: list[str], extra: list[str]) -> str:
    """The `from:` mappings that would read `missing` declared columns from similar file columns,
    and the way to give a column the file does not carry at all a constant."""
    hints, used = [], set()
    for n in missing:
        c = similar(spec.column(n).source, [e for e in extra if e not in used])
        if c:
            hints.append(f"{n}: `from: {c}`")
            used.add(c)
    text = f" (similar columns in the file: {'; '.join(hints)}; or {_alias_field(spec)})" if hints else ""
    return text + "; a column the file does not carry at all can get a constant (`constants:` or `default:`)"


_TIME_WORDS = {"ts", "time", "timestamp", "date", "datetime", "dt", "day"}


def policy_from_config(policy: SchemaDriftPolicy) -> SchemaDriftSpec:
    """The churn example's run-config policy as a source policy (its aliases checked against the
    contract columns)."""
    return SchemaDriftSpec(_value(policy.extra_column), _value(policy.missing_column), _value(policy.changed_type),
                           float(policy.changed_type_min_share), tuple(policy.validated_aliases().items()))


def map_columns(file_columns: list[str], policy: SchemaDriftPolicy) -> tuple[dict[str, str | None], list[str]]:
    """(contract column -> file column or None, extra file columns) of the churn example under a
    run-config policy: `judge_columns`' mapping, with the policy's aliases validated first."""
    aliases = policy.validated_aliases()
    return map_onto(file_columns, CONTRACT_COLUMNS, aliases)


def _alias_field(spec: SourceSpec) -> str:
    # Where the policy a user edits lives: a source validated against a contract in code (the churn
    # example's) has it in its run config (the sources file refuses one for it), every other
    # source in its entry in the sources file.
    if spec.schema_drift_in_run_config:
        return "schema_drift.column_aliases"
    return f"sources file: {spec.name}.schema_drift.column_aliases"


def judge_columns(spec: SourceSpec, where: str, columns: list[str]) -> tuple[
        dict[str, str | None], list[Finding], tuple[str, str] | None]:
    """(declared column -> file column read for it or None, extra/missing column findings, the
    file-level quarantine (reason, detail) or None) under `spec.schema_drift`. `where` names the
    file (`landing file <path>`) or table (`table <name>`) in the detail."""
    policy = spec.schema_drift
    aliases = {c.source: c.name for c in spec.columns if c.source != c.name}
    aliases.update(dict(policy.column_aliases))
    mapping, extra = map_onto(columns, spec.column_names(), aliases)
    if not any(mapping.values()):
        # Nothing to read: most often a file with another delimiter (its header is one column).
        hint = next((f"; the delimiter must be ',' (this header looks {name}-separated)"
                     for sep, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe"))
                     if len(columns) == 1 and sep in columns[0]), "")
        return mapping, [], (rules.UNREADABLE_FILE, f"{where}: no contract column in its header "
                             f"(found {', '.join(columns) or 'none'}){hint}"
                             + _from_hints(spec, [n for n in mapping if spec.read_from_file(n)], columns))
    # A derived row id or a column with a default (a constant) is not read from the file.
    missing = [name for name, col in mapping.items() if col is None and spec.read_from_file(name)]
    findings = column_findings(extra, missing, policy.extra_column, policy.missing_column,
                               what=f"source {spec.name!r}", adapted="; read as blank",
                               alias_field=_alias_field(spec))
    problem = None
    if missing and policy.missing_column == "quarantine":
        problem = (rules.UNREADABLE_FILE, (
            f"{where}: missing column(s) {', '.join(spec.column(n).source for n in missing)} that source "
            f"{spec.name!r} reads (found {', '.join(columns) or 'none'}); map renamed "
            "columns with `from:` in the sources file" + _from_hints(spec, missing, extra)))
    return mapping, findings, problem


def judge_table(warehouse: Warehouse, spec: SourceSpec) -> tuple[dict[str, str | None] | None, list[Finding]]:
    """(declared column -> table column or None, the column findings) of a warehouse-table source.
    A table has nothing to quarantine: a missing column under `quarantine` or `fail` stops the run
    naming the table. A table whose columns cannot be listed here (db.schema.table) is read by the
    declared names (mapping None)."""
    with warehouse.session() as s:
        ensure_table(warehouse, s)
        columns = [c for c, _ in warehouse.session_columns(s, spec.table)] if "." not in spec.table else []
    if not columns:
        return None, []
    mapping, findings, problem = judge_columns(spec, f"table {spec.table}", [c.lower() for c in columns])
    failed = failures(findings)
    if problem or failed:
        raise SchemaDriftError(problem[1] if problem else failure_message(spec.table, failed, what="table"))
    return mapping, findings


def judge_types(warehouse: Warehouse, s: Session, spec: SourceSpec, rows_table: str, rel: str,
                suspects: list) -> tuple[list[Finding], dict[str, str]]:
    """(changed-type findings, column -> lossless cast over its staged text) for the `suspects`
    (typed columns whose cheap counts crossed the policy's share, see `counts_drifted`) of file
    `rel`, staged in `rows_table` (text under each column's name): one aggregate probe."""
    policy = spec.schema_drift
    cols = ", ".join(c.name for c in suspects)
    probes = probe_columns(warehouse, s, f"(SELECT {cols} FROM {rows_table} WHERE source_file = ?) ff_rows",
                           [(c.name, c.type) for c in suspects], [rel])
    findings, casts = [], {}
    for c in suspects:
        judge = judge_number if c.type == "number" else judge_time
        expected = "a number" if c.type == "number" else "an ISO-8601 timestamp"
        finding, cast = judge(warehouse, c.name, c.name, probes[c.name], policy, expected=expected)
        if finding:
            findings.append(finding)
        if cast:
            casts[c.name] = cast
    return findings, casts


def judge_number(warehouse: Warehouse, column: str, text: str, probe: dict, policy,
                 expected: str = "DOUBLE") -> tuple[Finding | None, str | None]:
    """(changed-type finding or None, the lossless cast over `text` the policy allows or None) for a
    number column from its `number_probe` counts."""
    bad_share = _bad_share(probe["n"], probe["ok"])
    if not _drifted(bad_share, policy):
        return None, None
    unit = probe["unit_min"]
    lossless = probe["unit"] == probe["n"] and unit == probe["unit_max"]
    how = f"number with unit {unit!r}; cast strips the unit" if lossless else "no lossless cast"
    cast = (warehouse.try_double(f"split_part(TRIM({text}), ' ', 1)")
            if lossless and _value(policy.changed_type) != DriftAction.fail.value else None)
    return _changed(column, expected, bad_share, probe["n"], probe["example"], how, lossless,
                    policy.changed_type), cast


def judge_time(warehouse: Warehouse, column: str, text: str, probe: dict, policy,
               expected: str = "ISO-8601 TIMESTAMP") -> tuple[Finding | None, str | None]:
    """`judge_number` for a timestamp column (epoch seconds or milliseconds cast to UTC)."""
    bad_share = _bad_share(probe["n"], probe["ok"])
    if not _drifted(bad_share, policy):
        return None, None
    factor = _epoch_factor(probe) if probe["num"] == probe["n"] else None
    lossless = factor is not None
    how = ("epoch " + ("seconds" if factor == 1000 else "milliseconds") + "; cast to UTC"
           if lossless else "no lossless cast")
    cast = None
    if lossless and _value(policy.changed_type) != DriftAction.fail.value:
        cast = warehouse.epoch_ms_to_timestamp(f"ROUND({warehouse.try_double(f'TRIM({text})')} * {factor})")
    return _changed(column, expected, bad_share, probe["n"], probe["example"], how, lossless,
                    policy.changed_type), cast


def value_counts(text: str, value: str) -> dict[str, str]:
    """{n, ok}: non-blank values of staged text column `text`, and those its parsed `value` read
    (what staging counts per typed column)."""
    blank = f"({text} IS NULL OR TRIM({text}) = '')"
    return {"n": f"COUNT(CASE WHEN NOT {blank} THEN 1 END)",
            "ok": f"COUNT(CASE WHEN NOT {blank} AND {value} IS NOT NULL THEN 1 END)"}


def counts_drifted(n: int, ok: int, policy) -> bool:
    """Whether `value_counts` say a column may have changed type (then probe it)."""
    return _drifted(_bad_share(int(n), int(ok)), policy)


def probe_columns(warehouse: Warehouse, session: Session, relation: str, columns: list[tuple[str, str]],
                  params: list | None = None) -> dict[str, dict]:
    """One aggregate over `relation` probing each (staged text column, number | timestamp):
    column -> its `number_probe` / `time_probe` values."""
    exprs: dict[str, str] = {}
    for i, (col, kind) in enumerate(columns):
        probe = number_probe(warehouse, col) if kind == "number" else time_probe(warehouse, col)
        exprs.update({f"c{i}_{k}": e for k, e in probe.items()})
    row = session.fetch_one(f"SELECT {', '.join(f'{e} AS {k}' for k, e in exprs.items())} FROM {relation}", params)
    values = {k: (int(v) if k.endswith(("_n", "_ok", "_unit", "_num")) else v) for k, v in zip(exprs, row)}
    return {col: _part(values, f"c{i}_") for i, (col, _) in enumerate(columns)}


def failure_message(file_label: str, failures: list[Finding], what: str = "landing file") -> str:
    return "; ".join(f"{what} {file_label}: {f.detail} (schema_drift.{f.kind} = fail)" for f in failures)


def ensure_table(warehouse: Warehouse, session: Session) -> None:
    """landing_schema_drift as its contract says (a table made before a column was added gets it)."""
    session.execute(SCHEMA_DRIFT_DDL)
    have = {c for c, _ in warehouse.session_columns(session, tables.LANDING_SCHEMA_DRIFT.name)}
    for col in tables.LANDING_SCHEMA_DRIFT.columns:
        if col.name not in have:
            session.execute(f"ALTER TABLE {tables.LANDING_SCHEMA_DRIFT} ADD COLUMN {col.name} {col.type}")


_RECORD_COLUMNS = ("source_file", "file_fingerprint", "kind", "column_name", "detail", "action", "severity",
                   "detected_at", "source")


def of_source(source: str) -> str:
    """SQL condition: the findings of `source` (the events' include those recorded before the column)."""
    return f"COALESCE(source, {sql_literal(EVENTS)}) = {sql_literal(source)}"


def record(session: Session, source_file: str, fingerprint: str, findings: list[Finding], now_sql: str,
           source: str = EVENTS) -> None:
    """Replace the recorded findings of `source`'s `source_file` (call inside the file's transaction)."""
    record_many(session, [(source_file, fingerprint, findings)], now_sql, source)


def record_many(session: Session, files: list[tuple[str, str, list[Finding]]], now_sql: str,
                source: str = EVENTS) -> None:
    """`record` for several files (source_file, fingerprint, findings) at once."""
    if not files:
        return
    names = ", ".join(sql_literal(name) for name, _, _ in files)
    session.execute(f"DELETE FROM {tables.LANDING_SCHEMA_DRIFT} WHERE source_file IN ({names}) AND {of_source(source)}")
    rows = [(name, fp, f.kind, f.column, f.detail, f.action_name, f.severity)
            for name, fp, findings in files for f in findings]
    for i in range(0, len(rows), 200):
        chunk = rows[i:i + 200]
        session.execute(f"INSERT INTO {tables.LANDING_SCHEMA_DRIFT} ({', '.join(_RECORD_COLUMNS)}) VALUES "
                        + ", ".join(f"(?, ?, ?, ?, ?, ?, ?, {now_sql}, {sql_literal(source)})" for _ in chunk),
                        [v for row in chunk for v in row])


def _value(action) -> str:
    return getattr(action, "value", action)


def _finding(kind: str, column: str, detail: str, action) -> Finding:
    return Finding(kind, column, detail, action, _SEVERITY[_value(action)])


def _changed(col, expected, share, n, example, cast, lossless, action) -> Finding:
    detail = (f"column {col!r} changed type: {share:.0%} of {n} non-blank values are not {expected} "
              f"(e.g. {example!r}); {cast}"
              + ("" if lossless or _value(action) == DriftAction.fail.value else "; those rows are quarantined"))
    severity = "warning" if _value(action) == DriftAction.auto_adapt.value and not lossless else _SEVERITY[_value(action)]
    return Finding("changed_type", col, detail, action, severity)


def _bad_share(n: int, ok: int) -> float:
    return (n - ok) / n if n else 0.0


def _drifted(bad_share: float, policy: SchemaDriftSpec) -> bool:
    return bool(bad_share) and bad_share >= policy.changed_type_min_share


def _epoch_factor(probe: dict) -> int | None:
    lo, hi = probe["num_min"], probe["num_max"]
    for low, high, factor in _EPOCH_RANGES:
        if lo is not None and low <= lo and hi < high:
            return factor
    return None


def _part(values: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}


def number_probe(warehouse: Warehouse, a: str) -> dict[str, str]:
    """Aggregates over staged text `a` judging a number column: non-blank (n), numbers (ok), a
    number followed by one word (unit, unit_min, unit_max), and a failing example."""
    a_blank = f"({a} IS NULL OR TRIM({a}) = '')"
    a_num = f"{warehouse.try_double(f'TRIM({a})')} IS NOT NULL"
    a_head = warehouse.try_double(f"split_part(TRIM({a}), ' ', 1)")
    a_unit = (f"NOT {a_blank} AND {a_head} IS NOT NULL "
              f"AND split_part(TRIM({a}), ' ', 2) <> '' AND split_part(TRIM({a}), ' ', 3) = ''")
    return {
        "n": f"COUNT(CASE WHEN NOT {a_blank} THEN 1 END)",
        "ok": f"COUNT(CASE WHEN NOT {a_blank} AND {a_num} THEN 1 END)",
        "unit": f"COUNT(CASE WHEN {a_unit} THEN 1 END)",
        "unit_min": f"MIN(CASE WHEN {a_unit} THEN split_part(TRIM({a}), ' ', 2) END)",
        "unit_max": f"MAX(CASE WHEN {a_unit} THEN split_part(TRIM({a}), ' ', 2) END)",
        "example": f"MIN(CASE WHEN NOT {a_blank} AND NOT ({a_num}) THEN {a} END)",
    }


def time_probe(warehouse: Warehouse, t: str) -> dict[str, str]:
    """Aggregates over staged text `t` judging a timestamp column: non-blank (n), ISO-8601 times
    (ok), numbers and their range (num, num_min, num_max: epoch?), and a failing example."""
    t_nb = f"NOT ({t} IS NULL OR TRIM({t}) = '')"
    t_num = warehouse.try_double(f"TRIM({t})")
    t_ok = f"{t_num} IS NULL AND {warehouse.try_timestamp(f'TRIM({t})')} IS NOT NULL"
    return {
        "n": f"COUNT(CASE WHEN {t_nb} THEN 1 END)",
        "ok": f"COUNT(CASE WHEN {t_nb} AND {t_ok} THEN 1 END)",
        "num": f"COUNT(CASE WHEN {t_nb} AND {t_num} IS NOT NULL THEN 1 END)",
        "num_min": f"MIN({t_num})",
        "num_max": f"MAX({t_num})",
        "example": f"MIN(CASE WHEN {t_nb} AND NOT ({t_ok}) THEN {t} END)",
    }
