"""Schema drift of one staged landing file against the contract, and what to do about it.

Three cases, each with a configured action (`contract.SchemaDriftPolicy`): an extra column, a
missing contract column, a changed type. Types are judged from values with one aggregate SQL probe
over the staged (all-VARCHAR) table, because a CSV has no types and a Parquet writer may store
anything as text: e.g. amount written as "12.50 USD", or event_ts as epoch seconds.

The outcome tells the staging step which SQL expression reads each contract column, so adapting
(ignore, fill NULL, lossless cast) happens in the same INSERT that stages the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from feature_factory import tables
from feature_factory.events.contract import CONTRACT_COLUMNS, DriftAction, SchemaDriftPolicy, events_source
from feature_factory.warehouse.base import Session, Warehouse, sql_literal

SCHEMA_DRIFT_DDL = f"CREATE TABLE IF NOT EXISTS {tables.LANDING_SCHEMA_DRIFT} ({tables.LANDING_SCHEMA_DRIFT.ddl()})"
_SEVERITY = {DriftAction.auto_adapt: "info", DriftAction.alert: "warning", DriftAction.fail: "error"}
# Plausible epoch magnitudes (1973..2286): seconds, then milliseconds.
_EPOCH_RANGES = ((1e8, 1e10, 1000), (1e11, 1e13, 1))


class SchemaDriftError(ValueError):
    """A landing file's schema drifted in a way the policy says must stop the run."""


@dataclass(frozen=True)
class Finding:
    kind: str  # extra_column | missing_column | changed_type
    column: str
    detail: str
    action: DriftAction
    severity: str  # info | warning | error


@dataclass
class DriftOutcome:
    source: dict[str, str | None]  # contract column -> staged column read for it (None = missing)
    amount_expr: str  # DOUBLE expression over the staged table
    ts_expr: str  # TIMESTAMP expression over the staged table
    findings: list[Finding] = field(default_factory=list)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.action == DriftAction.fail]

    def raw(self, column: str) -> str:
        src = self.source[column]
        return f"CAST({src} AS VARCHAR)" if src else "CAST(NULL AS VARCHAR)"


def map_columns(file_columns: list[str], policy: SchemaDriftPolicy) -> tuple[dict[str, str | None], list[str]]:
    """(contract column -> file column or None, extra file columns), applying configured aliases."""
    # The events source's column mapping (`from` in sources.yaml), then the policy's known renames.
    aliases = {c.source: c.name for c in events_source().columns if c.source != c.name}
    aliases.update(policy.validated_aliases())
    source: dict[str, str | None] = dict.fromkeys(CONTRACT_COLUMNS)
    extra = []
    for col in file_columns:
        target = aliases.get(col, col)
        if target in source and source[target] is None:
            source[target] = col
        else:
            extra.append(col)
    return source, extra


def assess_columns(warehouse: Warehouse, file_columns: list[str], policy: SchemaDriftPolicy) -> DriftOutcome:
    """Compare a file's columns with the contract: extra and missing columns, and how each contract
    column is read when no column changed type (the usual case)."""
    source, extra = map_columns(file_columns, policy)
    missing = [c for c, s in source.items() if s is None]
    adapt = {DriftAction.fail: ""}
    findings = [_finding("extra_column", c, f"column {c!r} is not in the contract"
                         + adapt.get(policy.extra_column, "; ignored"), policy.extra_column) for c in extra]
    for col in missing:
        hint = f"; possibly renamed to {extra[0]!r} (map it with schema_drift.column_aliases)" if (
            len(missing) == 1 and len(extra) == 1) else ""
        findings.append(_finding("missing_column", col, f"contract column {col!r} is missing"
                                 + adapt.get(policy.missing_column, "; read as NULL") + hint,
                                 policy.missing_column))
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
        bad_share, example = _bad_share(probe["a_n"], probe["a_ok"]), probe["a_example"]
        if _drifted(bad_share, policy):
            unit = probe["a_unit_min"]
            lossless = probe["a_unit"] == probe["a_n"] and unit == probe["a_unit_max"]
            cast = f"number with unit {unit!r}; cast strips the unit" if lossless else "no lossless cast"
            if lossless and policy.changed_type != DriftAction.fail:
                out.amount_expr = warehouse.try_double(f"split_part(TRIM({amount}), ' ', 1)")
            out.findings.append(_changed("amount", "DOUBLE", bad_share, probe["a_n"], example, cast,
                                         lossless, policy.changed_type))
    if ts:
        numeric = warehouse.try_double(f"TRIM({ts})")
        bad_share = _bad_share(probe["t_n"], probe["t_ok"])
        if _drifted(bad_share, policy):
            factor = _epoch_factor(probe) if probe["t_num"] == probe["t_n"] else None
            lossless = factor is not None
            cast = ("epoch " + ("seconds" if factor == 1000 else "milliseconds") + "; cast to UTC"
                    if lossless else "no lossless cast")
            if lossless and policy.changed_type != DriftAction.fail:
                out.ts_expr = warehouse.epoch_ms_to_timestamp(f"ROUND({numeric} * {factor})")
            out.findings.append(_changed("event_ts", "ISO-8601 TIMESTAMP", bad_share, probe["t_n"],
                                         probe["t_example"], cast, lossless, policy.changed_type))
    return out


def failure_message(file_label: str, failures: list[Finding]) -> str:
    return "; ".join(f"landing file {file_label}: {f.detail} (schema_drift.{f.kind} = fail)" for f in failures)


def record(session: Session, source_file: str, fingerprint: str, findings: list[Finding], now_sql: str) -> None:
    """Replace the recorded findings of `source_file` (call inside the file's transaction)."""
    session.execute(f"DELETE FROM {tables.LANDING_SCHEMA_DRIFT} WHERE source_file = ?", [source_file])
    for f in findings:
        session.execute(
            f"INSERT INTO {tables.LANDING_SCHEMA_DRIFT} VALUES (?, ?, ?, ?, ?, ?, ?, {now_sql})",
            [source_file, fingerprint, f.kind, f.column, f.detail, f.action.value, f.severity],
        )


def record_many(session: Session, files: list[tuple[str, str, list[Finding]]], now_sql: str) -> None:
    """`record` for several files (source_file, fingerprint, findings) at once."""
    if not files:
        return
    names = ", ".join(sql_literal(name) for name, _, _ in files)
    session.execute(f"DELETE FROM {tables.LANDING_SCHEMA_DRIFT} WHERE source_file IN ({names})")
    rows = [(name, fp, f.kind, f.column, f.detail, f.action.value, f.severity)
            for name, fp, findings in files for f in findings]
    for i in range(0, len(rows), 200):
        chunk = rows[i:i + 200]
        session.execute(f"INSERT INTO {tables.LANDING_SCHEMA_DRIFT} VALUES "
                        + ", ".join(f"(?, ?, ?, ?, ?, ?, ?, {now_sql})" for _ in chunk),
                        [v for row in chunk for v in row])


def _finding(kind: str, column: str, detail: str, action: DriftAction) -> Finding:
    return Finding(kind, column, detail, action, _SEVERITY[action])


def _changed(col, expected, share, n, example, cast, lossless, action) -> Finding:
    detail = (f"column {col!r} changed type: {share:.0%} of {n} non-blank values are not {expected} "
              f"(e.g. {example!r}); {cast}"
              + ("" if lossless or action == DriftAction.fail else "; those rows are quarantined"))
    severity = "warning" if action == DriftAction.auto_adapt and not lossless else _SEVERITY[action]
    return Finding("changed_type", col, detail, action, severity)


def _bad_share(n: int, ok: int) -> float:
    return (n - ok) / n if n else 0.0


def _drifted(bad_share: float, policy: SchemaDriftPolicy) -> bool:
    return bool(bad_share) and bad_share >= policy.changed_type_min_share


def _epoch_factor(probe: dict) -> int | None:
    lo, hi = probe["t_num_min"], probe["t_num_max"]
    for low, high, factor in _EPOCH_RANGES:
        if lo is not None and low <= lo and hi < high:
            return factor
    return None


def _probe(warehouse: Warehouse, session: Session, relation: str, amount: str | None, ts: str | None,
           params: list | None = None) -> dict:
    a = amount or "CAST(NULL AS VARCHAR)"
    t = ts or "CAST(NULL AS VARCHAR)"
    a_blank = f"({a} IS NULL OR TRIM({a}) = '')"
    a_num = f"{warehouse.try_double(f'TRIM({a})')} IS NOT NULL"
    a_head = warehouse.try_double(f"split_part(TRIM({a}), ' ', 1)")
    a_unit = (f"NOT {a_blank} AND {a_head} IS NOT NULL "
              f"AND split_part(TRIM({a}), ' ', 2) <> '' AND split_part(TRIM({a}), ' ', 3) = ''")
    t_nb = f"NOT ({t} IS NULL OR TRIM({t}) = '')"
    t_num = warehouse.try_double(f"TRIM({t})")
    t_ok = f"{t_num} IS NULL AND {warehouse.try_timestamp(f'TRIM({t})')} IS NOT NULL"
    exprs = {
        "a_n": f"COUNT(CASE WHEN NOT {a_blank} THEN 1 END)",
        "a_ok": f"COUNT(CASE WHEN NOT {a_blank} AND {a_num} THEN 1 END)",
        "a_unit": f"COUNT(CASE WHEN {a_unit} THEN 1 END)",
        "a_unit_min": f"MIN(CASE WHEN {a_unit} THEN split_part(TRIM({a}), ' ', 2) END)",
        "a_unit_max": f"MAX(CASE WHEN {a_unit} THEN split_part(TRIM({a}), ' ', 2) END)",
        "a_example": f"MIN(CASE WHEN NOT {a_blank} AND NOT ({a_num}) THEN {a} END)",
        "t_n": f"COUNT(CASE WHEN {t_nb} THEN 1 END)",
        "t_ok": f"COUNT(CASE WHEN {t_nb} AND {t_ok} THEN 1 END)",
        "t_num": f"COUNT(CASE WHEN {t_nb} AND {t_num} IS NOT NULL THEN 1 END)",
        "t_num_min": f"MIN({t_num})",
        "t_num_max": f"MAX({t_num})",
        "t_example": f"MIN(CASE WHEN {t_nb} AND NOT ({t_ok}) THEN {t} END)",
    }
    row = session.fetch_one(f"SELECT {', '.join(f'{e} AS {k}' for k, e in exprs.items())} FROM {relation}", params)
    return {k: (int(v) if k.endswith(("_n", "_ok", "_unit", "_num")) else v) for k, v in zip(exprs, row)}
