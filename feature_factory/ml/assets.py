"""Dagster wiring of the churn lifecycle: labels -> training set -> models -> gate -> champion ->
inference. The logic lives in the sibling modules; these assets pass config and render metadata.

Promotion design: `churn_model` registers every candidate and marks the best one challenger with
its gate record. When the challenger does not clear the gate and a champion serves, the blocking
check `challenger_beats_champion` fails with severity WARN (keeping the champion is a correct
outcome: the run succeeds), `champion_model` keeps the champion and says why, and inference scores
with it (the challenger in shadow). With no champion to keep, the check fails with ERROR, which
stops `champion_model` (the only step that promotes) and everything downstream in that run.
`champion_model` re-checks the gate itself, so materializing it alone can never promote a losing
challenger.
"""


import dagster as dg
import pandas as pd

from feature_factory import tables
from feature_factory.features.assets import feature_description
from feature_factory.ml import labels as labels_lib
from feature_factory.ml import training_set as training_set_lib
from feature_factory.catalog_resource import CatalogResource
from feature_factory.ml.resources import ModelRegistryResource
from feature_factory.ml.configs import (
    ChampionConfig, InferenceConfig, LabelConfig, ModelConfig, PerformanceConfig, TrainingSetConfig,
)
from feature_factory.warehouse.base import Warehouse

GROUP = "ml"


def _md_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


@dg.asset(group_name=GROUP, kinds={"sql"}, deps=[tables.RAW_EVENTS.key])
def churn_labels(config: LabelConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Churn labels computed in the warehouse from raw_events: for each label date L, every customer
    with an event in the lookback window before L, churned = 1 when they make no purchase on days
    [L, L + horizon). Only label dates with a complete outcome window are labelled."""
    summary = labels_lib.build_labels(
        warehouse,
        horizon_days=config.horizon_days,
        lookback_days=config.activity_lookback_days,
        label_dates=config.label_dates,
        first_label_date=config.first_label_date,
        last_label_date=config.last_label_date,
        every_days=config.every_days,
        min_history_days=config.min_history_days,
        min_tenure_days=config.min_tenure_days,
    )
    per_date = [[d, n, c, f"{c / n:.3f}" if n else ""] for d, n, c in summary.per_date]
    return dg.MaterializeResult(metadata={
        "dagster/row_count": summary.rows,
        "label_dates": len(summary.plan.dates),
        "churn_rate": dg.MetadataValue.float(round(float(summary.churn_rate or 0.0), 4)),
        "labels_per_date": dg.MetadataValue.md(_md_table(["label_date", "labels", "churned", "churn_rate"], per_date)),
        "skipped_dates": dg.MetadataValue.json(summary.plan.skipped),
        "events_through": str(summary.plan.last_event_date),
        "dagster/column_schema": tables.CHURN_LABELS.column_schema(live=warehouse.columns(tables.CHURN_LABELS.name)),
        "dagster/column_lineage": dg.TableColumnLineage(deps_by_column={
            c: [dg.TableColumnDep(asset_key=tables.RAW_EVENTS.key, column_name=src)]
            for c, src in (("customer_id", "customer_id"), ("churned", "event_type"),
                           ("outcome_purchases", "event_type"), ("last_event_date", "event_date"))
        }),
    })


@dg.asset(group_name=GROUP, kinds={"sql"}, deps=[churn_labels, tables.CUSTOMER_FEATURES.key])
def training_set(config: TrainingSetConfig, warehouse: Warehouse, catalog: CatalogResource) -> dg.MaterializeResult:
    """Point-in-time training set: each churn label LEFT-joined in the warehouse to the newest
    customer_features snapshot dated within [label_date - ttl_days, label_date - 1] (features read
    through the patch layer). No label is ever dropped; labels without a fresh snapshot get NULL
    features and are counted."""
    trainable = catalog.catalog().trainable()
    s = training_set_lib.build_training_set(warehouse, trainable, ttl_days=config.ttl_days)
    fmt = lambda v: None if v is None else round(v, 1)  # noqa: E731
    return dg.MaterializeResult(metadata={
        "dagster/row_count": s.rows,
        "labels": s.labels,
        "rows_missing_features": s.missing_features,
        "missing_feature_share": dg.MetadataValue.float(round(s.missing_features / s.rows, 4) if s.rows else 0.0),
        "churned": s.churned,
        "label_window": f"{s.first_label_date} .. {s.last_label_date}",
        "snapshot_age_days": dg.MetadataValue.md(_md_table(
            ["min", "mean", "median", "max"],
            [[fmt(s.age_min), fmt(s.age_mean), fmt(s.age_median), fmt(s.age_max)]],
        )),
        "null_counts": dg.MetadataValue.json(s.null_counts),
        "dagster/column_schema": tables.TRAINING_SET.column_schema(
            live=warehouse.columns(tables.TRAINING_SET.name),
            described={f.name: feature_description(f) for f in trainable}),
        "dagster/column_lineage": dg.TableColumnLineage(deps_by_column={
            **{f: [dg.TableColumnDep(asset_key=tables.CUSTOMER_FEATURES.key, column_name=f)]
               for f in s.features},
            "churned": [dg.TableColumnDep(asset_key=tables.CHURN_LABELS.key, column_name="churned")],
            "label_date": [dg.TableColumnDep(asset_key=tables.CHURN_LABELS.key, column_name="label_date")],
        }),
    })


@dg.asset(group_name=GROUP, kinds={"scikitlearn"}, deps=[training_set])
def churn_model(config: ModelConfig, warehouse: Warehouse, model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """Trains the candidate models (logistic regression, random forest, histogram gradient
    boosting) out of time: the holdout is the newest label dates, training uses only dates a purge
    gap (the label horizon) before them, CV runs over expanding windows of label dates, and each
    model's probabilities are calibrated on the newest training dates. Constant and (near-)identical
    features are dropped first (listed with the reason). Every candidate is registered (retraining
    the same data, params and code returns the same version); the best on the promotion metric
    becomes challenger, with its gate record against the champion, both scored on holdout rows
    neither trained on, and against a constant predictor's Brier score."""
    from feature_factory.ml import models, training
    from feature_factory.ml.plots import markdown_image

    rnd = training.train_round(
        warehouse, models.Hyperparams.from_config(config), metric=config.promotion_metric,
        margin=config.promotion_margin, min_score=config.min_promotion_score,
        keep_archived=config.keep_archived_artifacts, registry=model_registry.open(),
        brier_below_constant=config.require_brier_below_constant,
    )
    res, gate = rnd.result, rnd.gate
    verdict = "passes" if gate["passed"] else "fails"
    meta: dict = {
        "challenger_version": rnd.challenger.version,
        "challenger_type": rnd.challenger.model_type,
        "registered_versions": dg.MetadataValue.json({k: v.version for k, v in rnd.versions.items()}),
        "metrics": dg.MetadataValue.md(models.metrics_table(res.models, config.promotion_metric)),
        "gate": dg.MetadataValue.md(f"**{verdict}**: {gate['reason']}" + (
            "" if gate.get("identical") else f"; scored on {gate['champion_scored_on']}")),
        "split": res.split.describe() if res.split else "",
        "train_rows": res.n_train,
        "purged_rows": res.n_purged,
        "holdout_rows": res.n_holdout,
        "positives": res.positives,
        "data_version": rnd.data_version,
        "code_version": rnd.challenger.code_version,
        "features": dg.MetadataValue.json(res.features),
        "dropped_features": dg.MetadataValue.md(
            _md_table(["feature", "not trained on because"], [[f, why] for f, why in res.dropped_features.items()])
            if res.dropped_features else "none: every trainable feature varies and none copies another"),
        "calibration": res.calibration,
        "time_cv": (res.cv_note or f"all {config.cv_folds} folds ran") if config.cv_folds else "off (cv_folds 0)",
        "base_rate": dg.MetadataValue.float(round(res.base_rate, 4)),
        "brier_vs_constant": dg.MetadataValue.md(_md_table(
            ["scorer", "holdout Brier"],
            [[f"constant {res.base_rate:.3f} (training churn rate)", f"{res.constant_brier:.4f}"]]
            + [[k, f"{m.metrics['brier']:.4f}"] for k, m in res.models.items()])),
    }
    for kind, m in res.models.items():
        meta[f"{kind}_roc_auc"] = dg.MetadataValue.float(round(m.metrics["roc_auc"], 4))
        meta[f"{kind}_brier"] = dg.MetadataValue.float(round(m.metrics["brier"], 4))
        if "roc_auc" in m.cv:
            meta[f"{kind}_cv_roc_auc_mean"] = dg.MetadataValue.float(round(m.cv["roc_auc"]["mean"], 4))
            meta[f"{kind}_cv_roc_auc_std"] = dg.MetadataValue.float(round(m.cv["roc_auc"]["std"], 4))
    for name, png in rnd.plots.items():
        meta[f"plot_{name}"] = dg.MetadataValue.md(markdown_image(png, name))
    return dg.MaterializeResult(metadata=meta)


@dg.asset(group_name=GROUP, kinds={"python"}, deps=[churn_model])
def champion_model(config: ChampionConfig, warehouse: Warehouse,
                   model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """The serving model. Promotes the challenger to champion (archiving the previous one) only when
    its gate passed; runs after the blocking check `challenger_beats_champion`. With
    `promotion_basis: realized` it instead promotes a challenger whose shadow scores beat the
    champion's realized ROC AUC (model_performance) on the same matured scoring dates. Lists the
    registry with every version's status and the promotion history."""
    from feature_factory.ml import performance
    from feature_factory.ml.registry import PromotionRefused

    registry = model_registry.open()
    before = registry.champion()
    challenger = registry.challenger()
    basis_note = kept_reason = None
    last = registry.last_round() or {}
    if config.promotion_basis == "holdout" and (last.get("gate") or {}).get("identical"):
        challenger = None  # the newest round reproduced the champion: nothing to promote
    if config.promotion_basis not in ("holdout", "realized"):
        raise dg.Failure(f"champion_model promotion_basis={config.promotion_basis!r}: use holdout or realized")
    if config.promotion_basis == "realized" and challenger and before:
        frame = (warehouse.fetch_df(f"SELECT * FROM {tables.MODEL_PERFORMANCE.name}")
                 if warehouse.table_exists(tables.MODEL_PERFORMANCE.name) else pd.DataFrame())
        gate = challenger.gate or {}
        passed, basis_note = performance.realized_gate(
            frame, before.version, challenger.version, float(gate.get("margin", 0.005)), config.min_realized_dates)
        if passed is not None:
            registry.mark_challenger(challenger.version, {
                **gate, "basis": "realized", "passed": passed, "reason": basis_note,
                "champion_version": before.version})
        if not passed:  # keep serving the champion (a correct outcome): this step succeeds and says why
            kept_reason = f"(promotion on realized performance): {basis_note}"
            challenger = None
    if (config.promotion_basis == "holdout" and challenger and before
            and not (challenger.gate or {}).get("passed")):
        # The gate kept the champion: a correct outcome, so this step succeeds and says why.
        kept_reason = (challenger.gate or {}).get("reason", "")
        challenger = None
    try:
        champ = registry.promote(challenger.version) if challenger else before
    except PromotionRefused as exc:
        raise dg.Failure(description=f"not promoted: {exc}") from exc
    if champ is None:
        raise dg.Failure("no challenger to promote and no champion: materialize churn_model first")
    listing = [
        [v.version, v.model_type, v.status, f"{v.metrics['roc_auc']:.4f}" if "roc_auc" in v.metrics else "",
         v.training_window.get("last_label_date"), v.data_version, v.created_at]
        for v in reversed(registry.versions())
    ]
    history = [[h["at"], h["event"], h["version"], h.get("reason", "")] for h in reversed(registry.history()[-30:])]
    return dg.MaterializeResult(metadata={k: v for k, v in {
        "champion_version": champ.version,
        "champion_type": champ.model_type,
        "previous_champion": before.version if before else None,
        "promoted": bool(before is None or before.version != champ.version),
        "champion_roc_auc": (dg.MetadataValue.float(round(champ.metrics["roc_auc"], 4))
                             if "roc_auc" in champ.metrics else None),
        "promotion_basis": config.promotion_basis + (f": {basis_note}" if basis_note else ""),
        "gate_decision": (f"kept champion v{champ.version}: challenger v{registry.challenger().version} "
                          f"{kept_reason}") if kept_reason is not None and registry.challenger() else None,
        "features": dg.MetadataValue.json(champ.features),
        "registry": dg.MetadataValue.md(_md_table(
            ["version", "type", "status", "roc_auc", "trained through", "data", "created"], listing
        )),
        "history": dg.MetadataValue.md(_md_table(["at", "event", "version", "reason"], history)),
    }.items() if v is not None})


PSI_TIERS = ((0.1, "stable"), (0.25, "moderate shift"), (float("inf"), "major shift"))


def psi_tier(psi: float) -> str:
    """The usual reading of a population stability index: < 0.1 stable, < 0.25 moderate, else major."""
    return next(name for bound, name in PSI_TIERS if psi < bound)


def _bin_ranges(cuts: list[float]) -> list[str]:
    edges = [0.0, *cuts, 1.0]
    return [f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(edges[:-1], edges[1:])]


def _scoring_metadata(s, prefix: str = "") -> dict:
    ranges = _bin_ranges(s.reference_cuts) if s.reference_cuts else [str(i) for i in range(len(s.bin_counts))]
    shares = s.reference_shares or [None] * len(s.bin_counts)
    bins = [[r, c, f"{c / s.customers:.1%}", "" if ref is None else f"{ref:.1%}"]
            for r, c, ref in zip(ranges, s.bin_counts, shares)]
    meta = {
        f"{prefix}model_version": s.model_version,
        f"{prefix}model_type": s.model_type,
        f"{prefix}predicted_churners": s.predicted_churners,
        f"{prefix}mean_score": dg.MetadataValue.float(round(s.mean_score, 4)),
        f"{prefix}training_mean_score": (dg.MetadataValue.float(round(s.reference_mean, 4))
                                         if s.reference_mean is not None else None),
        f"{prefix}prediction_psi": dg.MetadataValue.float(round(s.psi, 4)) if s.psi is not None else None,
        f"{prefix}prediction_drift": (f"{psi_tier(s.psi)} (PSI {s.psi:.3f}; < 0.1 stable, 0.1-0.25 moderate, "
                                      ">= 0.25 major)") if s.psi is not None else None,
        f"{prefix}score_bins_vs_training": dg.MetadataValue.md(_md_table(
            ["score range (holdout deciles)", "customers", "share", "holdout share"], bins)),
    }
    return meta


@dg.asset(group_name=GROUP, kinds={"scikitlearn", "sql"},
          deps=[champion_model, tables.CUSTOMER_FEATURES_ONLINE.key])
def inference_results(context: dg.AssetExecutionContext, config: InferenceConfig,
                      warehouse: Warehouse, model_registry: ModelRegistryResource,
                      catalog: CatalogResource) -> dg.MaterializeResult:
    """Churn scores for every customer in customer_features_online: the champion's (role
    `champion`) and, while there is a challenger, the challenger's in shadow (role `shadow`), each
    row with probability, predicted label, model_version and scored_at, per scoring run (run_id);
    re-running a run replaces its rows. Metadata compares each score distribution with its
    model's holdout scores (PSI over the holdout's deciles)."""
    from feature_factory.ml import inference

    s = inference.score_customers(
        warehouse, context.run_id, chunk_rows=config.chunk_rows, threshold=config.threshold,
        shadow=config.shadow, as_of=config.as_of, registry=model_registry.open(),
        features=catalog.catalog().trainable(),
    )
    preview = warehouse.fetch_df(
        "SELECT customer_id, churn_probability, predicted_churn FROM inference_results "
        "WHERE run_id = ? AND role = 'champion' ORDER BY churn_probability DESC LIMIT 10", [s.run_id])
    meta = {
        "dagster/row_count": warehouse.row_count(tables.INFERENCE_RESULTS.name),
        "customers_scored": s.customers,
        **_scoring_metadata(s),
        "shadow_version": s.shadow.model_version if s.shadow else None,
        "missing_features": dg.MetadataValue.json(s.missing_features),
        "chunks": s.chunks,
        "top_scores": dg.MetadataValue.md(_md_table(
            list(preview.columns), [[r[0], f"{r[1]:.3f}", r[2]] for r in preview.itertuples(index=False)]
        )),
        "dagster/column_schema": tables.INFERENCE_RESULTS.column_schema(live=warehouse.columns(tables.INFERENCE_RESULTS.name)),
    }
    if s.shadow:
        meta.update(_scoring_metadata(s.shadow, "shadow_"))
        meta.pop("shadow_model_version")
    return dg.MaterializeResult(metadata={k: v for k, v in meta.items() if v is not None})


@dg.asset(group_name=GROUP, kinds={"sql"}, deps=[inference_results, tables.RAW_EVENTS.key])
def model_performance(config: PerformanceConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """Realized performance of every scored model, champion and shadow, per scoring date, once its
    outcome window has passed: customers, realized churn rate, mean score, Brier score and ROC
    AUC, computed in the warehouse from inference_results and raw_events with the churn_labels
    definition. The plot shows realized ROC AUC over time per model version."""
    from feature_factory.ml import performance, training
    from feature_factory.ml.plots import markdown_image, realized_auc_plot

    horizon = config.horizon_days or training.horizon_of_labels(warehouse) or 14
    s = performance.build_performance(warehouse, horizon, config.activity_lookback_days)
    f = s.frame
    fmt = lambda v, p=3: "" if v is None or v != v else f"{v:.{p}f}"  # noqa: E731
    table = [[r.scoring_date, f"v{r.model_version}", r.role, r.customers, fmt(r.churn_rate), fmt(r.mean_score),
              fmt(r.brier), fmt(r.roc_auc)] for r in f.tail(30).itertuples(index=False)]
    meta: dict = {
        "dagster/row_count": s.rows,
        "horizon_days": horizon,
        "scoring_dates_matured": int(f["scoring_date"].nunique()) if s.rows else 0,
        "scoring_dates_pending": dg.MetadataValue.json(s.pending_dates),
        "realized": dg.MetadataValue.md(_md_table(
            ["scoring date", "model", "role", "customers", "churn rate", "mean score", "brier", "roc_auc"], table)
            if table else "no scoring date has a matured outcome window yet"),
        "dagster/column_schema": tables.MODEL_PERFORMANCE.column_schema(live=warehouse.columns(tables.MODEL_PERFORMANCE.name)),
    }
    for role in ("champion", "shadow"):
        rows = f[(f["role"] == role) & f["roc_auc"].notna()] if s.rows else f
        if len(rows):
            latest = rows.iloc[-1]
            meta[f"latest_{role}_roc_auc"] = dg.MetadataValue.float(round(float(latest["roc_auc"]), 4))
    if s.rows and f["roc_auc"].notna().any():
        meta["plot_realized_roc_auc"] = dg.MetadataValue.md(markdown_image(realized_auc_plot(f), "realized_roc_auc"))
    return dg.MaterializeResult(metadata=meta)
