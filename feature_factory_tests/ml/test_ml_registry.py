"""The file registry: versions, sha256-verified loading, the champion gate, feature lookups."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ml_helpers import synthetic_frame

from feature_factory.ml import models
from feature_factory.ml.registry import (
    ModelRegistry, PromotionRefused, RegistryError, champion_features, gate_decision, versions_using,
)


def _register(reg: ModelRegistry, features=("f_count", "f_amount"), auc=0.8, obj=None, data=None):
    # A distinct data version per call (unless given): the registry dedupes identical training.
    return reg.register(obj if obj is not None else {"weights": [1, 2, 3]}, model_type="logistic_regression",
                        features=list(features), training_window={"rows": 10}, metrics={"roc_auc": auc},
                        data_version=data or f"d{len(reg.versions()) + 1}")


def _gate(reg: ModelRegistry, score: float, margin: float = 0.01) -> dict:
    champ = reg.champion()
    champ_score = champ.metrics["roc_auc"] if champ else None
    passed, reason = gate_decision("roc_auc", score, champ_score, margin, 0.5)
    return {"metric": "roc_auc", "challenger_score": score, "champion_score": champ_score,
            "champion_version": champ.version if champ else None, "passed": passed, "reason": reason}


def test_register_records_everything_and_loads_verified():
    reg = ModelRegistry()
    pipe = models.train_models(synthetic_frame(80), ["f_count", "f_amount"],
                               models.Hyperparams(cv_folds=3, rf_n_estimators=5, min_rows=20, purge_days=7),
                               kinds=["logistic_regression"]).models["logistic_regression"].pipeline
    v = _register(reg, obj=pipe)
    assert v.version == 1 and v.status == "archived" and len(v.sha256) == 64
    assert v.code_version.startswith("0.1.0") and v.data_version == "d1" and v.created_at
    assert (reg.root / v.artifact).is_file() and reg.root.name == "models"
    loaded, info = reg.load(1)
    frame = synthetic_frame(5)
    assert np.allclose(models.predict_proba(loaded, frame, info.features),
                       models.predict_proba(pipe, frame, info.features))
    assert [h["event"] for h in reg.history()] == ["registered"]
    assert json.loads((reg.root / "index.json").read_text())["versions"][0]["version"] == 1


def test_tampered_artifact_is_refused_before_unpickling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reg = ModelRegistry()
    v = _register(reg)
    path = reg.root / v.artifact
    # A pickle that would run code if loaded: it must never get that far.
    path.write_bytes(b"cos\nsystem\n(S'touch pwned'\ntR.")
    with pytest.raises(RegistryError, match="failed sha256 verification.*refusing to unpickle"):
        reg.load(v.version)
    assert not (tmp_path / "pwned").exists()
    path.unlink()
    with pytest.raises(RegistryError, match="missing"):
        reg.load(v.version)
    with pytest.raises(RegistryError, match="version 42 is not in the registry"):
        reg.load(42)


def test_champion_gate_worse_stays_challenger_better_is_promoted():
    reg = ModelRegistry()
    assert reg.champion() is None and champion_features() == set()
    first = _register(reg, auc=0.70)
    reg.mark_challenger(first.version, _gate(reg, 0.70))
    assert reg.promote(first.version).status == "champion"
    assert champion_features() == {"f_count", "f_amount"}

    worse = _register(reg, features=("f_count",), auc=0.705)  # within the 0.01 margin: not enough
    reg.mark_challenger(worse.version, _gate(reg, 0.705))
    with pytest.raises(PromotionRefused, match="stays challenger: roc_auc 0.7050 < champion 0.7000 \\+ margin 0.01"):
        reg.promote(worse.version)
    assert reg.get(worse.version).status == "challenger" and reg.champion().version == first.version
    assert reg.history()[-1]["event"] == "promotion_refused"

    better = _register(reg, features=("f_count", "f_new"), auc=0.75)
    reg.mark_challenger(better.version, _gate(reg, 0.75))
    assert reg.get(worse.version).status == "archived"  # one challenger at a time
    assert reg.promote(better.version).status == "champion"
    assert reg.get(first.version).status == "archived"
    assert champion_features() == {"f_count", "f_new"}
    assert [v.version for v in versions_using("f_count")] == [1, 2, 3]
    assert [v.version for v in versions_using("f_new")] == [3] and versions_using("nope") == []
    events = [(h["event"], h["version"]) for h in reg.history()]
    assert ("champion", 1) in events and ("archived", 1) in events and ("champion", 3) in events


def test_promotion_refused_when_champion_changed_or_not_challenger():
    reg = ModelRegistry()
    a, b = _register(reg), _register(reg)
    reg.mark_challenger(a.version, _gate(reg, 0.8))
    gate_b = _gate(reg, 0.8)  # evaluated while there was no champion
    reg.promote(a.version)
    reg.mark_challenger(b.version, gate_b)
    with pytest.raises(PromotionRefused, match="champion changed"):
        reg.promote(b.version)
    with pytest.raises(PromotionRefused, match="is archived, not the challenger"):
        reg.promote(_register(reg).version)


def test_gate_decision():
    assert gate_decision("roc_auc", 0.8, None, 0.01) == (True, "no champion yet")
    assert gate_decision("roc_auc", 0.45, None, 0.01, min_score=0.5)[0] is False
    assert gate_decision("roc_auc", 0.81, 0.80, 0.01)[0] is True
    assert gate_decision("roc_auc", 0.8099, 0.80, 0.01)[0] is False
    # Brier is compared in larger-is-better orientation (negated): 0.10 beats 0.12 by 0.02.
    assert gate_decision("brier", models.signed("brier", 0.10), models.signed("brier", 0.12), 0.01)[0]


def test_unreadable_index_is_a_clear_error():
    reg = ModelRegistry()
    reg.root.mkdir(parents=True)
    (reg.root / "index.json").write_text("{not json")
    with pytest.raises(RegistryError, match="cannot read model registry index"):
        reg.versions()


def test_same_training_is_the_same_version_and_retention_prunes_artifacts():
    reg = ModelRegistry()
    a = _register(reg, data="same")
    again = _register(reg, data="same", auc=0.9)
    assert again.version == a.version and again.fingerprint == a.fingerprint and len(reg.versions()) == 1
    assert len(list(reg.root.glob("*.pkl"))) == 1
    # Other params, features or code are another version.
    other = reg.register({"w": 1}, model_type="logistic_regression", features=["f_count", "f_amount"],
                         data_version="same", params={"lr_c": 0.5})
    assert other.version == 2 and other.fingerprint != a.fingerprint
    code = reg.register({"w": 1}, model_type="logistic_regression", features=["f_count", "f_amount"],
                        data_version="same", params={"lr_c": 0.5}, code_version="9.9.9")
    assert code.version == 3
    for v in (4, 5):
        assert _register(reg).version == v
    # Retention keeps the newest 2 archived artifacts (all five are archived).
    assert reg.prune(keep_archived=2) == [1, 2, 3]
    assert sorted(p.name for p in reg.root.glob("*.pkl")) == ["v0004_logistic_regression.pkl",
                                                             "v0005_logistic_regression.pkl"]
    assert reg.get(1).artifact_removed and reg.history()[-1]["event"] == "artifacts_removed"
    with pytest.raises(RegistryError, match="deleted by the retention setting"):
        reg.load(1)
    assert reg.prune(keep_archived=2) == []
    # Retraining the pruned version restores its artifact under the same version.
    back = _register(reg, data="same")
    assert back.version == 1 and not reg.get(1).artifact_removed and reg.load(1)[0] == {"weights": [1, 2, 3]}
