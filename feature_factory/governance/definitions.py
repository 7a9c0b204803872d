"""governance domain: `erase_entity_job` (the Launchpad's way to erase ids, the same logic as
`feature-factory erase`) and the sensor that turns an erasure's retrain request into one run of
the model's retrain job.

The job's run config names the ids, and Dagster keeps a run's config in its run history: erasing
through the Launchpad leaves the ids there until the run is deleted (the erasure's result says
so). `feature-factory erase` starts no run and leaves no such trace (docs/governance.md).
"""


import datetime as dt
import getpass

import dagster as dg
from pydantic import Field

from feature_factory import markdown as md
from feature_factory import tables
from feature_factory.catalog_resource import CatalogResource
from feature_factory.governance import retention, usage
from feature_factory.governance.erase import LEDGER, ErasureRequest
from feature_factory.governance.runner import erase_with, training_sets
from feature_factory.homes import HomesResource
from feature_factory.ml.jobs import retrain_job
from feature_factory.ml.resources import ModelRegistryResource
from feature_factory.serving import read_log
from feature_factory.serving.config import OnlineStoreResource
from feature_factory.warehouse.base import Warehouse

ERASURE_TAG = "feature_factory/erasure_id"
COLUMNS = ("kind", "target", "erased", "remaining", "detail")  # the ledger rows shown in the run


class EraseConfig(dg.Config):
    entity: str = Field(default="customer", description="The entity whose ids to erase (the sources file's "
                        "`entities:`; default customer).")
    ids: list[str] = Field(description="The ids to erase: values of the entity's key (e.g. customer_id). "
                           "Dagster keeps this config with the run: delete the run afterwards, or use "
                           "`feature-factory erase`, which starts no run.")
    requested_by: str = Field(default="", description="Who asks for the erasure (recorded in erasure_ledger); "
                              "default: the run's `dagster/user` tag, else the user running the code location.")
    rewrite_landing: bool = Field(default=False, description="Rewrite the landing files holding the ids "
                                  "without them (default: report them in the ledger and leave them).")
    request_retrain: bool = Field(default=False, description="When model versions were fit on the ids' rows, "
                                  "ask for the model's retrain job (erasure_retrain_sensor launches it once).")


@dg.op(description="Erase the ids from every table, the online store, the warehouse file and (by option) the "
       "landing files; write tombstones and the erasure ledger (docs/governance.md).")
def erase_entity(context: dg.OpExecutionContext, config: EraseConfig, warehouse: Warehouse,
                 catalog: CatalogResource, homes: HomesResource, online_store: OnlineStoreResource,
                 model_registry: ModelRegistryResource) -> dg.Output:
    who = config.requested_by or context.run.tags.get("dagster/user") or getpass.getuser()
    request = ErasureRequest.of(config.entity, config.ids, who, rewrite_landing=config.rewrite_landing,
                                request_retrain=config.request_retrain)
    result = erase_with({"warehouse": warehouse, "catalog": catalog, "homes": homes, "online_store": online_store,
                         "model_registry": model_registry}, request)
    rows = [{"kind": r.target_kind, "target": r.target, "erased": r.rows_erased, "remaining": r.rows_remaining,
             "detail": r.detail} for r in result.rows]
    if not result.verified:
        raise dg.Failure(f"{result.erasure_id}: a re-count found rows of the ids left (see erasure_ledger)",
                         metadata={"ledger": dg.MetadataValue.md(md.records_table(rows, COLUMNS))})
    return dg.Output(result.erasure_id, metadata={
        "erasure_id": result.erasure_id, "entity": result.entity, "subjects": result.subjects,
        "rows_erased": result.rows_erased, "seconds": round(result.seconds, 2), "verified": result.verified,
        "models_fit_on_the_ids": [f"v{m.version} ({m.status})" for m in result.models],
        "ledger": dg.MetadataValue.md(md.records_table(rows, COLUMNS)),
    })


@dg.job(description="Erase an entity's ids everywhere the project keeps them (the Launchpad form of "
        "`feature-factory erase`): tables, online store, warehouse file, landing files by option; tombstones "
        "keep them out of later ingestion; erasure_ledger records who, when and the re-count.",
        tags={"feature_factory/governance": "erase"})
def erase_entity_job():
    erase_entity()


def retrain_requests(warehouse: Warehouse) -> list[str]:
    """Erasures that asked for a retrain (oldest first); [] before any erasure."""
    if not warehouse.table_exists(LEDGER):
        return []
    return [r[0] for r in warehouse.fetch_all(
        f"SELECT erasure_id, MIN(erased_at) FROM {LEDGER} WHERE target_kind = 'retrain_request' AND target = ? "
        "GROUP BY erasure_id ORDER BY 2", [retrain_job.name])]


@dg.sensor(job=retrain_job, minimum_interval_seconds=120, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launches retrain_job once for each erasure that requested a retrain (its run key is the "
           "erasure id, so a request is acted on once).")
def erasure_retrain_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SensorResult:
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=e, tags={ERASURE_TAG: e})
                                         for e in retrain_requests(warehouse)])


class RetentionConfig(dg.Config):
    policy_path: str = Field(default="", description="Retention policy YAML; default FEATURE_FACTORY_RETENTION, "
                             "else the shipped feature_factory/governance/retention.yaml (nothing expires).")
    as_of: str = Field(default="", description="Day (YYYY-MM-DD) ages are measured from; default today (UTC).")
    allow_guarded: bool = Field(default=False, description="Also delete rows the current baseline or a live "
                                "model's training window needs (said in the metadata); default: keep them.")
    dry_run: bool = Field(default=False, description="Count what would be deleted, delete nothing.")


RETENTION_COLUMNS = ("table", "keep_days", "cutoff", "deleted", "guarded_kept", "note")


@dg.asset(group_name="governance", kinds={"sql"},
          description="Applies the per-table retention policy (feature_factory/governance/retention.yaml): rows "
          "older than each table's keep_days are deleted in the warehouse; rows the current baseline or the "
          "champion's / challenger's training window needs are kept and named (docs/governance.md).")
def data_retention(config: RetentionConfig, warehouse: Warehouse,
                   model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    rules = retention.load_policy(config.policy_path or None)
    as_of = dt.date.fromisoformat(config.as_of) if config.as_of else dt.datetime.now(dt.timezone.utc).date()
    guards = retention.guards(warehouse, model_registry.open())
    outcomes = retention.apply(warehouse, rules, as_of, guards, allow_guarded=config.allow_guarded,
                               dry_run=config.dry_run)
    rows = [{c: getattr(o, c) for c in RETENTION_COLUMNS} for o in outcomes]
    return dg.MaterializeResult(metadata={
        "policy": str(retention.policy_path(config.policy_path or None)), "as_of": str(as_of),
        "rows_deleted": sum(o.deleted for o in outcomes), "rows_kept_by_guards": sum(o.guarded_kept for o in outcomes),
        "guards": [g.why for g in guards], "dry_run": config.dry_run,
        "retention": dg.MetadataValue.md(md.records_table(rows, RETENTION_COLUMNS)),
    })


class UsageConfig(dg.Config):
    retirement_days: int = Field(default=90, ge=1, description="A feature no model version, snapshot or training "
                                 "set used within this many days is listed as a retirement candidate.")
    online_reads_path: str = Field(default="", description="The feature server's online read log (SQLite); "
                                   "empty: FEATURE_FACTORY_ONLINE_READS or <home>/online_reads.sqlite. "
                                   "A missing file means no online reads yet.")


@dg.asset(group_name="governance", kinds={"sql"},
          description="The usage ledger: one row per feature and reader (model version, training set snapshot, "
          "declared training set, online API key with its read count). Who reads X: SELECT * FROM feature_usage WHERE feature = 'X'. Features no "
          "reader used within retirement_days are listed as retirement candidates.",
          metadata={"dagster/table_name": usage.TABLE, "dagster/column_schema": tables.FEATURE_USAGE.column_schema()})
def feature_usage(config: UsageConfig, warehouse: Warehouse, catalog: CatalogResource,
                  model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    online = read_log.load(config.online_reads_path or None)
    uses = usage.uses(model_registry.open(), warehouse, training_sets(catalog), online)
    rows = usage.write(warehouse, uses)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    cat = catalog.catalog()
    retire = usage.retirement_candidates([*cat.features, *cat.others], uses, config.retirement_days, now)
    by_feature: dict[str, list[str]] = {}
    for u in uses:
        by_feature.setdefault(u.feature, []).append(f"{u.reader} ({u.status})")
    table = [{"feature": f, "readers": len(r), "who": ", ".join(r[:5]) + (" ..." if len(r) > 5 else "")}
             for f, r in sorted(by_feature.items())]
    return dg.MaterializeResult(metadata={
        "dagster/row_count": rows,
        "dagster/column_schema": tables.FEATURE_USAGE.column_schema(),
        "who_reads": dg.MetadataValue.md(md.records_table(table, ("feature", "readers", "who"))),
        "retirement_candidates": dg.MetadataValue.json(retire),
        "retirement_days": config.retirement_days,
        "online_reads": sum(r.reads for r in online),
    })


retention_job = dg.define_asset_job("retention_job", selection=[data_retention],
                                    description="Apply the retention policy (data_retention).")
retention_schedule = dg.ScheduleDefinition(
    name="retention_schedule", job=retention_job, cron_schedule="30 4 * * *", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Apply the retention policy daily at 04:30 UTC (the shipped policy expires nothing).")

defs = dg.Definitions(assets=[data_retention, feature_usage], jobs=[erase_entity_job, retention_job],
                      schedules=[retention_schedule], sensors=[erasure_retrain_sensor])
