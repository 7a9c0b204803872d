"""A declared source's landing schema drift: its `schema_drift:` policy (catalog/sources.py
SchemaDriftSpec) applied with the events source's logic (events/schema_drift.py) to one landing
file's (or the table source's) columns and staged values. Used by source_ingestion.py; no Dagster.

- `judge_columns`: which file column each declared column is read from (`from:`, its own name or
  an alias), the extra/missing findings, and the file-level quarantine of a missing column when
  the policy says `quarantine` (the behaviour before sources had a policy);
- `judge_table`: the same for a warehouse-table source, which has nothing to quarantine;
- `judge_types`: a number column or the event time whose staged values stopped parsing: the
  changed-type findings and the lossless casts to re-read the file with.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from feature_factory.catalog.sources import SourceSpec
from feature_factory.events import rules, schema_drift
from feature_factory.events.contract import DriftAction
from feature_factory.warehouse.base import Session, Warehouse, quote_ident


def _action(value: str) -> DriftAction | str:
    return DriftAction(value) if value in DriftAction.__members__ else value


def judge_table(warehouse: Warehouse, spec: SourceSpec):
    """(text_of: the SQL reading each declared column from the table source, the column findings).
    The same column policy as a landing file's, except that a table has nothing to quarantine: a
    missing column under `quarantine` or `fail` stops the run naming the table. A table whose
    columns cannot be listed here (db.schema.table) is read by the declared names."""
    with warehouse.session() as s:
        schema_drift.ensure_table(warehouse, s)
        columns = [c for c, _ in warehouse.session_columns(s, spec.table)] if "." not in spec.table else []
    if not columns:
        return (lambda c: quote_ident(c.source)), []
    mapping, findings, problem = judge_columns(spec, f"table {spec.table}", columns)
    failed = schema_drift.failures(findings)
    if problem or failed:
        raise schema_drift.SchemaDriftError(
            problem[1] if problem else schema_drift.failure_message(spec.table, failed, what="table"))
    return (lambda c: quote_ident(mapping[c.name]) if mapping[c.name] else "CAST(NULL AS VARCHAR)"), findings


def judge_columns(spec: SourceSpec, label: Path | str, columns: list[str]) -> tuple[
        dict[str, str | None], list[schema_drift.Finding], tuple[str, str] | None]:
    """(declared column -> file column read for it or None, extra/missing column findings, the
    file-level quarantine (reason, detail) when a missing column quarantines the file). `label`:
    the file's path, or `table <name>` for a table source."""
    policy = spec.schema_drift
    aliases = {c.source: c.name for c in spec.columns if c.source != c.name}
    aliases.update(dict(policy.column_aliases))
    mapping, extra = schema_drift.map_onto(columns, spec.column_names(), aliases)
    missing = [name for name, col in mapping.items() if col is None]
    findings = schema_drift.column_findings(
        extra, missing, _action(policy.extra_column), _action(policy.missing_column),
        what=f"source {spec.name!r}", adapted="; read as blank",
        alias_field=f"sources file: {spec.name}.schema_drift.column_aliases")
    problem = None
    if missing and policy.missing_column == "quarantine":
        where = label if isinstance(label, str) else f"landing file {label}"
        problem = (rules.UNREADABLE_FILE, (
            f"{where}: missing column(s) {', '.join(spec.column(n).source for n in missing)} that source "
            f"{spec.name!r} reads (found {', '.join(columns) or 'none'}); map renamed "
            "columns with `from:` in the sources file"))
    return mapping, findings, problem


def judge_types(warehouse: Warehouse, s: Session, spec: SourceSpec, landing_rows: str, rel: str,
                mapping: dict[str, str | None], value_of: Callable[[str], str]) -> tuple[list, dict[str, str]]:
    """(changed-type findings, column -> lossless cast over its text) for the typed columns of file
    `rel`, staged in `landing_rows` (text under the column's name, the parsed value under
    `value_of(name)`). Cheap counts first (blank vs parsed, from what was just staged); the full
    probe only for a column whose failing share reaches the policy's threshold."""
    policy = spec.schema_drift
    typed = [c for c in spec.columns if c.type != "string" and mapping[c.name]]
    if not typed:
        return [], {}
    exprs = {f"{c.name}__{k}": e for c in typed
             for k, e in schema_drift.value_counts(c.name, value_of(c.name)).items()}
    row = s.fetch_one(f"SELECT {', '.join(exprs.values())} FROM {landing_rows} WHERE source_file = ?", [rel])
    counts = dict(zip(exprs, row))
    suspects = [c for c in typed if schema_drift.counts_drifted(counts[f"{c.name}__n"], counts[f"{c.name}__ok"], policy)]
    if not suspects:
        return [], {}
    cols = ", ".join(c.name for c in suspects)
    probes = schema_drift.probe_columns(
        warehouse, s, f"(SELECT {cols} FROM {landing_rows} WHERE source_file = ?) ff_rows",
        [(c.name, c.type) for c in suspects], [rel])
    findings, casts = [], {}
    for c in suspects:
        judge = schema_drift.judge_number if c.type == "number" else schema_drift.judge_time
        expected = "a number" if c.type == "number" else "an ISO-8601 timestamp"
        finding, cast = judge(warehouse, c.name, c.name, probes[c.name], policy, expected=expected)
        if finding:
            findings.append(finding)
        if cast:
            casts[c.name] = cast
    return findings, casts
