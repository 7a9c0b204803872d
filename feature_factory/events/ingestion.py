"""Validated ingestion of any source (catalog/sources.yaml) over days [start, end): pure warehouse
logic, no Dagster. The churn example's `events` source takes the same path as every other one.

1. Stage the source's new or changed landing files (`staging.sync_landing`: grouped reads, row
   reasons from the source's rules, schema drift per its policy, undated rows quarantined once per
   file version). A warehouse-table source is read in place instead, into a session work table.
2. In one SQL statement over the staged rows of the range, add the batch-level reasons: duplicate
   row id within the batch (the first by file, row wins) and against rows already stored in OTHER
   partitions of the raw table (the range's own earlier rows are being replaced, so they are not
   duplicates of themselves).
   Then, as its own step, rows whose entity key was erased get `erased_entity` (events/tombstones.py).
3. Replace the range's partitions of the raw table (accepted) and the quarantine table (rejected).

Rows read = accepted + quarantined, counted per file and reason: every row of each file that feeds
the range, including its rows in no partition (quarantined when the file was staged).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from feature_factory import settings
from feature_factory.catalog.sources import SourceSpec
from feature_factory.events import layout, schema_drift, tombstones, work_tables
from feature_factory.events import validation as rules
from feature_factory.events.contract import events_source
from feature_factory.events.staging import FileStatus, Run, Source, SyncReport, quarantine_undated, rows_select, sync_landing
from feature_factory.settings import Homes
from feature_factory.warehouse.interface import Session
from feature_factory.warehouse.sql import quote_ident, sql_literal

if TYPE_CHECKING:  # only passed in (Dagster classes: the resource and the run config)
    from feature_factory.events.config import IngestionConfig, SourceIngestionConfig
    from feature_factory.warehouse.base import Warehouse

ACCEPTED = "accepted"


@dataclass
class IngestionResult:
    start: dt.date
    end: dt.date  # exclusive
    counts: Counter  # (source_file, "accepted" | reason) -> rows
    sync: SyncReport
    findings: list[dict] = field(default_factory=list)  # schema drift of the files involved

    @property
    def rows_accepted(self) -> int:
        return sum(n for (_, o), n in self.counts.items() if o == ACCEPTED)

    @property
    def rows_quarantined(self) -> int:
        return sum(n for (_, o), n in self.counts.items() if o != ACCEPTED)

    @property
    def rows_read(self) -> int:
        return self.rows_accepted + self.rows_quarantined

    @property
    def quarantine_rate(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    def by_reason(self) -> dict[str, int]:
        out: Counter = Counter()
        for (_, outcome), n in self.counts.items():
            if outcome != ACCEPTED:
                out[outcome] += n
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    def by_file(self) -> dict[str, dict[str, int]]:
        """source_file -> {"read", "accepted", "quarantined"}."""
        out: dict[str, dict[str, int]] = {}
        for (file, outcome), n in sorted(self.counts.items()):
            row = out.setdefault(file, {"read": 0, "accepted": 0, "quarantined": 0})
            row["read"] += n
            row[ACCEPTED if outcome == ACCEPTED else "quarantined"] += n
        return out


def with_run_policy(spec: SourceSpec, config: SourceIngestionConfig) -> SourceSpec:
    """`spec` under the schema-drift policy of a run config that carries one (the churn example's)."""
    policy = getattr(config, "schema_drift", None)
    if policy is None:
        return spec
    return dataclasses.replace(spec, schema_drift=schema_drift.policy_from_config(policy))


def ingest(warehouse: Warehouse, spec: SourceSpec, start: dt.date, end: dt.date,
           config: SourceIngestionConfig, *, now: dt.datetime | None = None, start_date: dt.date | None = None,
           homes: Homes | None = None) -> IngestionResult:
    """Ingest `spec` for [start, end) under a run's config: its landing folder (`config.landing_dir`,
    else the source's folder under `homes`), its future tolerance and, when the config carries one
    (the churn example's), its schema-drift policy in place of the sources file's."""
    spec = with_run_policy(spec, config)
    folder = Path(config.landing_dir) if config.landing_dir else layout.landing_dir(spec, homes)
    return ingest_source_range(warehouse, spec, start, end, folder=folder, now=now, start_date=start_date,
                               future_tolerance_minutes=config.future_tolerance_minutes, homes=homes)


def ingest_range(warehouse: Warehouse, start: dt.date, end: dt.date, config: IngestionConfig | None = None, *,
                 now: dt.datetime | None = None, start_date: dt.date | None = None,
                 homes: Homes | None = None) -> IngestionResult:
    """`ingest` of the churn example's `events` source (raw_events, quarantined_events)."""
    if config is None:
        from feature_factory.events.config import IngestionConfig  # the run config's defaults

        config = IngestionConfig()
    return ingest(warehouse, events_source(), start, end, config, now=now,
                  start_date=start_date, homes=homes)


def ingest_source_range(
    warehouse: Warehouse, spec: SourceSpec, start: dt.date, end: dt.date, *, folder: Path | None = None,
    now: dt.datetime | None = None, start_date: dt.date | None = None, future_tolerance_minutes: float = 5.0,
    homes: Homes | None = None,
) -> IngestionResult:
    """Ingest `spec`'s rows whose UTC event day is in [start, end) into its raw and quarantine tables.

    `now` (naive UTC) is when the run started: `ingested_at`, and the reference for "in the future"
    when files are staged. Raises `SchemaDriftError` for drift configured to fail, before any
    partition is written. `homes` holds the erasure salt the tombstone step reads."""
    if end <= start:
        raise ValueError(f"empty partition range [{start}, {end})")
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    start_date = start_date or dt.date.fromisoformat(settings.start_date())
    run = Run(spec, start_date, now, future_tolerance_minutes)
    t = layout.source_tables(spec)
    lo, hi = sql_literal(start), sql_literal(end)
    in_range = f"event_date >= {lo} AND event_date < {hi}"
    table_source = spec.table is not None
    if table_source:
        mapping, table_findings = schema_drift.judge_table(warehouse, spec)
    else:
        sync = sync_landing(warehouse, run, folder or layout.landing_dir(spec))
    rows = work_tables.new_name("landing_stage") if table_source else t.landing_rows
    batch, ids = work_tables.new_name("ingest_batch"), work_tables.new_name("ingest_batch")
    plan = _Batch(spec, rows, lo, hi, ids, carry_landed=table_source)
    # One session: the work tables are TEMPORARY (that session's, in memory, spilled to disk only
    # past the memory limit), not tables written to the database file and dropped minutes later.
    with warehouse.session() as s:
        try:
            if table_source:
                sync = _read_table(warehouse, s, run, rows, mapping, table_findings)
            s.execute(f"CREATE TEMPORARY TABLE {ids} AS {plan.ids_sql()}")
            s.execute(f"CREATE TEMPORARY TABLE {batch} AS {_batch_sql(lo, hi, ids, plan)}")
            # Its own step (issue 30): rows of an erased id go to quarantine as erased_entity.
            tombstones.quarantine_erased(warehouse, s, spec, batch, homes)
            warehouse.session_replace_where(s, quote_ident(t.raw), in_range, f"""
                SELECT {plan.values_sql()}, event_date, source_file, source_row, {run.now_sql} AS ingested_at
                FROM {batch} WHERE reason IS NULL""")
            warehouse.session_replace_where(s, quote_ident(t.quarantine), in_range,
                                            plan.quarantine_sql(batch, run.now_sql))
            counts = read_counts(s, batch, sync, None if table_source else rows)
            findings = _findings(s, spec, batch, sync)
        finally:
            for table in (batch, ids, *([rows] if table_source else [])):
                s.execute(f"DROP TABLE IF EXISTS {table}")
    for f in sync.files:
        for reason, n in f.undated.items():
            counts[(f.source_file, reason)] += n
    return IngestionResult(start, end, counts, sync, findings)


def _read_table(warehouse: Warehouse, s: Session, run: Run, rows: str, mapping, findings) -> SyncReport:
    """A warehouse-table source read in place into the session's work table `rows`; its rows of no
    day are quarantined again each run (the table may have changed)."""
    spec, now_sql = run.spec, run.now_sql
    layout.ensure_tables(warehouse, s, spec)
    # A table row has no file row: `ff_row` numbers them so duplicates rank in a stable order.
    select = rows_select(warehouse, run, Source(spec.table, sql_literal(spec.table), "CAST(NULL AS VARCHAR)",
                                                "NULL", None), mapping)
    s.execute(f"CREATE TEMPORARY TABLE {rows} AS SELECT *, ROW_NUMBER() OVER () AS ff_row FROM ({select}) ff_rows")
    with s.transaction():
        schema_drift.record(s, spec.table, "", findings, now_sql, source=spec.name)
        s.execute(f"DELETE FROM {quote_ident(spec.quarantine_table)} WHERE source_file = ? AND event_date IS NULL",
                  [spec.table])
        undated = quarantine_undated(s, spec, rows, [spec.table], now_sql).get(spec.table, {})
    return SyncReport([FileStatus(spec.table, None, "staged", undated=undated)])


def read_counts(db, batch: str, sync: SyncReport, rows: str | None) -> Counter:
    """(source_file, "accepted" | reason) -> rows read for this range: the batch's rows, plus, when
    the rows were staged from landing files (`rows`, the staged-rows table), the rows of those files
    that fall in no partition (bad or future time), quarantined when the file was staged, maybe by
    an earlier run. `db`: a warehouse or an open session."""
    counts: Counter = Counter({(r[0], r[1]): int(r[2]) for r in db.fetch_all(
        f"SELECT source_file, COALESCE(reason, '{ACCEPTED}'), COUNT(*) FROM {batch} GROUP BY 1, 2")})
    if rows is None:
        return counts
    staged_now = {f.source_file for f in sync.files if f.undated}  # counted in the batch already
    for file, reason, n in db.fetch_all(
            f"SELECT source_file, row_reason, COUNT(*) FROM {rows} WHERE event_date IS NULL "
            f"AND source_file IN (SELECT DISTINCT source_file FROM {batch}) GROUP BY 1, 2"):
        if file not in staged_now:
            counts[(file, reason)] += int(n)
    return counts


@dataclass(frozen=True)
class _Batch:
    """The SQL over one range's staged rows of a source (`rows`, its staged-rows table)."""

    spec: SourceSpec
    rows: str
    lo: str
    hi: str
    ids: str
    # A table source's work table has no (file, row) key to join back to: the batch carries the
    # rejected rows' landed text itself. Staged files' batches leave it in the staged rows.
    carry_landed: bool = False

    @property
    def row_key(self) -> str:
        return "ff_row" if self.carry_landed else "source_row"

    @property
    def _t(self) -> layout.SourceTables:
        return layout.source_tables(self.spec)

    def in_range(self, alias: str = "") -> str:
        return f"{alias}event_date >= {self.lo} AND {alias}event_date < {self.hi}"

    @staticmethod
    def valid(alias: str = "") -> str:
        return f"CASE WHEN {alias}row_reason IS NULL THEN 0 ELSE 1 END"

    def landed_only(self) -> list[str]:
        """What only a rejected row needs: its file's fingerprint and the text of typed columns."""
        return ["file_fingerprint", *(c.name for c in layout.typed_columns(self.spec))]

    def columns(self) -> list[str]:
        """What the batch keeps of a staged row: the raw table's inputs and the keys back to the rows."""
        strings = [c.name for c in self.spec.columns if c.type == "string"]
        typed = [self._t.value(c.name) for c in layout.typed_columns(self.spec)]
        return ["source_file", "source_row", *strings, *typed, "event_date",
                *(self.landed_only() if self.carry_landed else [])]

    def ids_sql(self) -> str:
        """The range's staged row ids (trimmed), per validity, with their counts."""
        rid = self.spec.row_id
        return (f"SELECT TRIM({rid}) AS id, {self.valid()} AS bad, COUNT(*) AS n FROM {self.rows} "
                f"WHERE {self.in_range()} GROUP BY TRIM({rid}), {self.valid()}")

    def values_sql(self) -> str:
        """The raw table's declared columns from the batch: strings normalized and mapped per the
        source's rules (e.g. `LOWER(TRIM(channel))`), typed columns as parsed."""
        t = self._t
        return ", ".join(
            f"{t.value(c.name)} AS {c.name}" if c.type != "string"
            else f"CAST({rules.value_sql(c, c.name)} AS VARCHAR) AS {c.name}" for c in self.spec.columns)

    def quarantine_sql(self, batch: str, now_sql: str) -> str:
        """The rejected rows of the batch as quarantine rows, their landed text joined back from the
        staged rows (the batch carries no raw text the accepted rows do not need)."""
        landed = set(self.landed_only())
        exprs = {"detail": f"{rules.detail_sql(rules.texts(self.spec), 'b.reason')} AS detail",
                 "quarantined_at": f"{now_sql} AS quarantined_at"}
        if not self.carry_landed:
            exprs.update({c: f"l.{c}" for c in landed})
        cols = [c for c, _, _ in layout.quarantine_columns(self.spec)]
        join = ("" if self.carry_landed else
                f" JOIN {self.rows} l ON l.source_file = b.source_file AND l.source_row = b.source_row")
        return (f"SELECT {', '.join(exprs.get(c, f'b.{c}') for c in cols)} FROM {batch} b{join} "
                "WHERE b.reason IS NOT NULL")


def _batch_sql(lo: str, hi: str, ids: str, plan: _Batch) -> str:
    """The range's staged rows with their batch-level reason; `ids` is the table of `ids_sql`.

    The ids are a table of their own so the engine knows their exact count: estimated from a filter
    on the staged rows, DuckDB judged them the bigger side and built the stored-id lookup's hash
    table on raw_events (10M ids, +0.8 GB peak and 2.4 s of one day's refresh) instead of on the
    day's ids."""
    rid, rows, key = plan.spec.row_id, plan.rows, plan.row_key
    in_batch, stored = (r.reason for r in rules.duplicate_reasons(plan.spec))
    # Only ids seen twice are ranked (the first by file, row wins): a window over every row of a
    # range carries all its columns through a sort, ~35% of a 20-day batch's time.
    return f"""
        WITH ranked AS (
            SELECT r.source_file, r.{key} AS row_key, ROW_NUMBER() OVER (
                PARTITION BY d.id, d.bad ORDER BY r.source_file, r.{key}) AS dup_rank
            FROM {rows} r JOIN {ids} d ON d.id = TRIM(r.{rid}) AND d.bad = {plan.valid('r.')}
            WHERE d.n > 1 AND {plan.in_range('r.')}
        )
        SELECT {', '.join(f"l.{c}" for c in plan.columns())}, CASE
            WHEN l.row_reason IS NOT NULL THEN l.row_reason
            WHEN k.dup_rank > 1 THEN {sql_literal(in_batch)}
            WHEN s.stored_id IS NOT NULL THEN {sql_literal(stored)}
        END AS reason
        FROM {rows} l
        LEFT JOIN ranked k ON k.source_file = l.source_file AND k.row_key = l.{key}
        LEFT JOIN (
            -- Only the batch's ids are looked up: a semi-join probing the stored ids costs a scan,
            -- where DISTINCT over every stored id cost a hash table of the whole history.
            SELECT DISTINCT {rid} AS stored_id FROM {quote_ident(plan.spec.raw_table)}
            WHERE (event_date < {lo} OR event_date >= {hi}) AND {rid} IN (SELECT id FROM {ids})
        ) s ON s.stored_id = TRIM(l.{rid})
        WHERE {plan.in_range('l.')}"""


def _findings(session: Session, spec: SourceSpec, batch: str, sync: SyncReport) -> list[dict]:
    """Recorded drift findings of the source's files that fed this range or were read by this run."""
    read = [f.source_file for f in sync.files if f.status != "unchanged"]
    extra = f" OR source_file IN ({', '.join('?' for _ in read)})" if read else ""
    df = session.fetch_df(
        "SELECT source_file, kind, column_name, action, severity, detail FROM landing_schema_drift "
        f"WHERE {schema_drift.of_source(spec.name)} AND (source_file IN (SELECT DISTINCT source_file "
        f"FROM {batch}){extra}) ORDER BY source_file, kind, column_name", read or None)
    return df.to_dict("records")
