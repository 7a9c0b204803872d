"""The promotion gate as a blocking asset check on `churn_model`."""


import dagster as dg

from feature_factory.ml.assets import churn_model
from feature_factory.ml.resources import ModelRegistryResource


@dg.asset_check(asset=churn_model, blocking=True)
def challenger_beats_champion(model_registry: ModelRegistryResource) -> dg.AssetCheckResult:
    """Passes when the newest challenger beats the champion by the configured margin, both scored
    on the same holdout rows neither trained on (or, when there are none, each on its own
    out-of-time holdout, as the description says), its Brier score is below the constant
    predictor's, or there is no champion yet and it clears the minimum score.

    A challenger that loses while a champion serves is a correct outcome, not an error: the check
    fails with severity WARN (non-blocking), the run succeeds, champion_model keeps the champion
    and says why, and inference scores with it (the challenger in shadow). With no champion to keep
    (a first model below the bar, or no challenger at all) it fails with ERROR and, being blocking,
    stops champion_model and inference."""
    registry = model_registry.open()
    last = registry.last_round()
    gated = [v for v in registry.versions() if v.gate]
    if last is None and not gated:
        return dg.AssetCheckResult(passed=False, description="no trained challenger in the registry")
    latest = registry.get(last["version"]) if last else gated[-1]
    gate = (last or {}).get("gate") or latest.gate or {}
    if latest.status == "champion":
        passed, note = True, gate.get("reason") or f"v{latest.version} is already champion"
    elif latest.status != "challenger":
        passed, note = False, f"v{latest.version} is {latest.status}; retrain to produce a challenger"
    else:
        passed, note = bool(gate.get("passed")), gate.get("reason", "")
    champion = registry.champion()
    kept = not passed and latest.status == "challenger" and champion is not None
    if kept:
        note = f"champion v{champion.version} kept: challenger v{latest.version} {note}"
    metadata = {
        "challenger_version": latest.version,
        "metric": gate.get("metric", ""),
        "challenger_score": dg.MetadataValue.float(round(float(gate.get("challenger_score") or 0.0), 4)),
        "margin": dg.MetadataValue.float(float(gate.get("margin") or 0.0)),
        "scored_on": gate.get("champion_scored_on") or "",
        "same_rows": bool(gate.get("same_rows")),
        "decision": ("promote" if passed and latest.status != "champion" else
                     "already champion" if passed else
                     f"keep champion v{champion.version}" if kept else
                     "no challenger to judge" if latest.status != "challenger" else "no model to serve"),
    }
    if gate.get("brier_constant") is not None:
        metadata["challenger_brier"] = dg.MetadataValue.float(round(float(gate["brier"]), 4))
        metadata["constant_brier"] = dg.MetadataValue.float(round(float(gate["brier_constant"]), 4))
    if gate.get("champion_version") is not None and gate.get("champion_score") is not None:
        metadata["champion_version"] = gate["champion_version"]
        metadata["champion_score"] = dg.MetadataValue.float(round(float(gate["champion_score"]), 4))
    severity = dg.AssetCheckSeverity.WARN if kept else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(passed=passed, description=note, metadata=metadata, severity=severity)
