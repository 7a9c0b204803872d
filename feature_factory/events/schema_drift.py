"""Schema drift of one staged landing file against the contract, and what to do about it.

Three cases, each with a configured action (`contract.SchemaDriftPolicy`): an extra column, a
missing contract column, a changed type. Types are judged from values with one aggregate SQL probe
over the staged (all-VARCHAR) table, because a CSV has no types and a Parquet writer may store
anything as text: e.g. amount written as "12.50 USD", or event_ts as epoch seconds.

The outcome tells the staging step which SQL expression reads each contract column, so adapting
(ignore, fill NULL, lossless cast) happens in the same INSERT that stages the rows.

The same judgement serves every declared source (events/source_ingestion.py, its policy from
`schema_drift:` in the sources file): `map_onto` matches file columns to the declared ones,
`column_findings` judges extra and missing columns, and `number_probe` / `time_probe` with
`judge_number` / `judge_time` judge a changed type of any number column or of the event time.
Findings are recorded per (source, landing file) in `landing_schema_drift`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from feature_factory import tables
from feature_factory.events.contract import CONTRACT_COLUMNS, DriftAction, SchemaDriftPolicy, events_source
from feature_factory.warehouse.base import Session, Warehouse, sql_literal

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
    action: DriftAction | str  # a DriftAction, or "quarantine" (a declared source's missing column)
    severity: str  # info | warning | error

    @property
    def action_name(self) -> str:
        return getattr(self.action, "value", self.action)


@dataclass
class DriftOutcome:
    source: dict[str, str | None]  # contract column -> staged column read for it (None = missing)
    amount_expr: str  # DOUBLE expression over the staged table
    ts_expr: str  # TIMESTAMP expression over the staged table
    findings: list[Finding] = field(default_factory=list)

    @property
    def failures(self) -> list[Finding]:
        return failures(self.findings)

    def raw(self, column: str) -> str:
        src = self.source[column]
        return f"CAST({src} AS VARCHAR)" if src else "CAST(NULL AS VARCHAR)"


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


def map_columns(file_columns: list[str], policy: SchemaDriftPolicy) -> tuple[dict[str, str | None], list[str]]:
    """(contract column -> file column or None, extra file columns), applying configured aliases."""
    # The events source's column mapping (`from` in sources.yaml), then the policy's known renames.
    aliases = {c.source: c.name for c in events_source().columns if c.source != c.name}
    aliases.update(policy.validated_aliases())
    return map_onto(file_columns, CONTRACT_COLUMNS, aliases)


def column_findings(extra: list[str], missing: list[str], extra_action, missing_action,
                    what: str = "the contract", adapted: str = "; read as NULL",
                    alias_field: str = "schema_drift.column_aliases") -> list[Finding]:
    """Findings for extra and missing columns under their actions (`what` names the expected
    columns' owner in the text; `adapted` says what a non-failing missing column becomes)."""
    adapt = {DriftAction.fail.value: "", "quarantine": "; the file is quarantined"}
    findings = [_finding("extra_column", c, f"column {c!r} is not in {what}"
                         + adapt.get(_value(extra_action), "; ignored"), extra_action) for c in extra]
    for col in missing:
        hint = f"; possibly renamed to {extra[0]!r} (map it with {alias_field})" if (
            len(missing) == 1 and len(extra) == 1) else ""
        noun = "contract column" if what == "the contract" else "column"
        findings.append(_finding("missing_column", col, f"{noun} {col!r} is missing"
                                 + adapt.get(_value(missing_action), adapted) + hint, missing_action))
    return findings


def assess_columns(warehouse: Warehouse, file_columns: list[str], policy: SchemaDriftPolicy) -> DriftOutcome:
    """Compare a file's columns with the contract: extra and missing columns, and how each contract
    column is read when no column changed type (the usual case)."""
    source, extra = map_columns(file_columns, policy)
    missing = [c for c, s in source.items() if s is None]
    findings = column_findings(extra, missing, policy.extra_column, policy.missing_column)
    outcome = DriftOutcome(source, amount_expr="CAST(NULL AS DOUBLE)", ts_expr="CAST(NULL AS TIMESTAMP)",
                           findings=findings)
    amount, ts = source["amount"], source["event_ts"]
    if amount:
        outcome.amount_expr = warehouse.try_double(f"TRIM({amount})")
    if ts:
        numeric = warehouse.try_double(f"TRIM({ts})")
        # Numeric text is never read as ISO-8601 (Snowflake would silently take it as epoch).
        outcome.ts_expr = f"CASE WHEN {numeric} IS NULL THEN {warehouse.try_timestamp(f'TRIM({ts})')} END"
    return outcome


# Counts over staged `landing_rows` read with `assess_columns`' expressions: which rows of amount and
# event_ts are non-blank, and which of those parsed. The same numbers the probe computes from the raw
# text (amount_value IS NOT NULL exactly when the probe's number test passes, event_ts_value likewise),
# without parsing again; the full probe runs only for a file whose counts cross the threshold.
VALUE_COUNTS = {
    "a_n": "COUNT(CASE WHEN NOT (amount IS NULL OR TRIM(amount) = '') THEN 1 END)",
    "a_ok": "COUNT(CASE WHEN NOT (amount IS NULL OR TRIM(amount) = '') AND amount_value IS NOT NULL THEN 1 END)",
    "t_n": "COUNT(CASE WHEN NOT (event_ts IS NULL OR TRIM(event_ts) = '') THEN 1 END)",
    "t_ok": "COUNT(CASE WHEN NOT (event_ts IS NULL OR TRIM(event_ts) = '') AND event_ts_value IS NOT NULL "
            "THEN 1 END)",
}


def needs_probe(counts: dict, policy: SchemaDriftPolicy) -> bool:
    """Whether `VALUE_COUNTS` say a column may have changed type (then `assess_values` decides)."""
    return any(_drifted(_bad_share(int(counts[n]), int(counts[ok])), policy)
               for n, ok in (("a_n", "a_ok"), ("t_n", "t_ok")))


def assess_values(
    warehouse: Warehouse, session: Session, outcome: DriftOutcome, policy: SchemaDriftPolicy,
    relation: str, params: list | None = None,
) -> DriftOutcome:
    """Add changed-type findings to `outcome` from one aggregate probe over `relation`, which holds
    the file's contract columns `amount` and `event_ts` as staged text (its `landing_rows`), and
    switch to a lossless cast where the policy allows one. Returns a new outcome."""
    out = DriftOutcome(dict(outcome.source), outcome.amount_expr, outcome.ts_expr, list(outcome.findings))
    amount, ts = out.source["amount"], out.source["event_ts"]
    probe = _probe(warehouse, session, relation, "amount" if amount else None, "event_ts" if ts else None,
                   params)
    if amount:
        finding, cast = judge_number(warehouse, "amount", amount, _part(probe, "a_"), policy)
        if finding:
            out.findings.append(finding)
        out.amount_expr = cast or out.amount_expr
    if ts:
        finding, cast = judge_time(warehouse, "event_ts", ts, _part(probe, "t_"), policy)
        if finding:
            out.findings.append(finding)
        out.ts_expr = cast or out.ts_expr
    return out


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
    (`VALUE_COUNTS` for any column)."""
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


def _drifted(bad_share: float, policy: SchemaDriftPolicy) -> bool:
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


def _probe(warehouse: Warehouse, session: Session, relation: str, amount: str | None, ts: str | None,
           params: list | None = None) -> dict:
    a = amount or "CAST(NULL AS VARCHAR)"
    t = ts or "CAST(NULL AS VARCHAR)"
    exprs = {**{f"a_{k}": e for k, e in number_probe(warehouse, a).items()},
             **{f"t_{k}": e for k, e in time_probe(warehouse, t).items()}}
    row = session.fetch_one(f"SELECT {', '.join(f'{e} AS {k}' for k, e in exprs.items())} FROM {relation}", params)
    return {k: (int(v) if k.endswith(("_n", "_ok", "_unit", "_num")) else v) for k, v in zip(exprs, row)}
