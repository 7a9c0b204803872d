"""The promotion gate as a blocking asset check on `churn_model`."""


import dagster as dg

from feature_factory.ml.assets import churn_model
from feature_factory.ml.resources import ModelRegistryResource


@dg.asset_check(asset=churn_model, blocking=True)
def challenger_beats_champion(model_registry: ModelRegistryResource) -> dg.AssetCheckResult:
    """Passes when the newest challenger beats the champion by the configured margin, both scored
    on the same holdout rows neither trained on (or, when there are none, each on its own
    out-of-time holdout, as the description says), or there is no champion yet and it clears the
    minimum score. Blocking: on failure the
    challenger stays challenger and champion_model (promotion) and inference do not run."""
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
    metadata = {
        "challenger_version": latest.version,
        "metric": gate.get("metric", ""),
        "challenger_score": dg.MetadataValue.float(round(float(gate.get("challenger_score") or 0.0), 4)),
        "margin": dg.MetadataValue.float(float(gate.get("margin") or 0.0)),
        "scored_on": gate.get("champion_scored_on") or "",
        "same_rows": bool(gate.get("same_rows")),
    }
    if gate.get("champion_version") is not None and gate.get("champion_score") is not None:
        metadata["champion_version"] = gate["champion_version"]
        metadata["champion_score"] = dg.MetadataValue.float(round(float(gate["champion_score"]), 4))
    return dg.AssetCheckResult(passed=passed, description=note, metadata=metadata)
