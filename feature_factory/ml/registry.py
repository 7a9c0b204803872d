"""File-based model registry under `$FEATURE_FACTORY_HOME/models/`: `index.json` plus one pickle per
version.

Every trained model is a version with its artifact's sha256, features, training window, metrics,
data and code version, and a status: `challenger` (the newest candidate, at most one),
`champion` (serving, at most one) or `archived`. A challenger becomes champion only through
`promote()`, which re-checks the recorded gate (beats the champion on the same holdout by the margin)
and that the champion has not changed since. Artifacts are read once, verified against the recorded
sha256, and only then unpickled, so a tampered file is never executed.

All writes go to a temp file and `os.replace`, under an exclusive file lock, so readers (the drift
sensor calling `champion_features()`) always see a whole index.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import pickle
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from feature_factory import __version__, settings

STATUSES = ("challenger", "champion", "archived")
INDEX = "index.json"


class RegistryError(RuntimeError):
    """A registry operation failed; the message names the version and file."""


class PromotionRefused(RegistryError):
    """The challenger did not pass the promotion gate."""


@dataclass
class ModelVersion:
    version: int
    model_type: str
    artifact: str  # relative to the registry root
    sha256: str
    features: list[str]
    training_window: dict[str, Any]
    metrics: dict[str, float]
    data_version: str
    code_version: str
    created_at: str
    status: str = "archived"
    cv: dict[str, dict[str, float]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    threshold: float = 0.5
    score_reference: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] | None = None
    ci: dict[str, list[float]] = field(default_factory=dict)
    fingerprint: str = ""  # sha256 of model type + data version + params + features + code version
    artifact_removed: bool = False  # retention deleted the pickle; the record stays
    dropped_features: dict[str, str] = field(default_factory=dict)  # not trained on, and why
    calibration: str = ""  # how its probabilities were calibrated
    training_snapshot: str = ""  # the training set snapshot it was fit on (ml/training_snapshots.py)


def gate_decision(
    metric: str,
    challenger_score: float,
    champion_score: float | None,
    margin: float,
    min_score: float | None = None,
) -> tuple[bool, str]:
    """Does the challenger clear the bar? Larger-is-better metric values (see models.signed)."""
    if min_score is not None and challenger_score < min_score:
        return False, f"{metric} {challenger_score:.4f} is below the minimum {min_score:.4f}"
    if champion_score is None:
        return True, "no champion yet"
    bar = champion_score + margin
    if challenger_score >= bar:
        return True, f"{metric} {challenger_score:.4f} >= champion {champion_score:.4f} + margin {margin:g}"
    return False, f"{metric} {challenger_score:.4f} < champion {champion_score:.4f} + margin {margin:g}"


def code_version() -> str:
    """Package version plus the git commit of the checkout, when there is one."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+g{sha}" if sha else __version__


def fingerprint(model_type: str, data_version: str, params: dict[str, Any], features: list[str],
                code: str) -> str:
    """What makes a training run the same run: identical inputs give the same registry version."""
    body = json.dumps({"model_type": model_type, "data_version": data_version, "params": params,
                       "features": list(features), "code_version": code}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class ModelRegistry:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root else settings.home() / "models"

    # -- reading --------------------------------------------------------------------------------
    def _read(self) -> dict[str, Any]:
        path = self.root / INDEX
        if not path.exists():
            return {"format": 1, "versions": [], "history": []}
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RegistryError(f"cannot read model registry index {path}: {exc}") from exc

    def versions(self) -> list[ModelVersion]:
        return [ModelVersion(**v) for v in self._read()["versions"]]

    def history(self) -> list[dict[str, Any]]:
        """Every registration and status change, oldest first."""
        return list(self._read()["history"])

    def by_fingerprint(self, fp: str) -> ModelVersion | None:
        return next((v for v in self.versions() if fp and v.fingerprint == fp), None)

    def last_round(self) -> dict[str, Any] | None:
        """The newest training round's outcome: {"version", "gate", "at"} (None before any)."""
        return self._read().get("last_round")

    def get(self, version: int) -> ModelVersion:
        for v in self.versions():
            if v.version == version:
                return v
        raise RegistryError(f"model version {version} is not in the registry at {self.root}")

    def _with_status(self, status: str) -> ModelVersion | None:
        found = [v for v in self.versions() if v.status == status]
        return found[-1] if found else None

    def champion(self) -> ModelVersion | None:
        return self._with_status("champion")

    def challenger(self) -> ModelVersion | None:
        return self._with_status("challenger")

    def versions_using(self, feature: str) -> list[ModelVersion]:
        return [v for v in self.versions() if feature in v.features]

    def load(self, version: int) -> tuple[Any, ModelVersion]:
        """The model object and its record, after verifying the artifact's sha256."""
        info = self.get(version)
        path = self.root / info.artifact
        if info.artifact_removed:
            raise RegistryError(
                f"artifact of archived model version {version} was deleted by the retention setting "
                "(churn_model keep_archived_artifacts); retrain to recreate it"
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RegistryError(f"artifact of model version {version} missing at {path}: {exc}") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != info.sha256:
            raise RegistryError(
                f"artifact of model version {version} at {path} failed sha256 verification "
                f"(expected {info.sha256[:16]}…, got {digest[:16]}…): refusing to unpickle a "
                "modified file; retrain or restore it"
            )
        return pickle.loads(data), info

    # -- writing --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[dict[str, Any]]:
        """Exclusive read-modify-write of the index; written atomically on success only."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as lock:
            try:
                import fcntl

                fcntl.flock(lock, fcntl.LOCK_EX)
            except ImportError:  # not POSIX: single-writer assumed
                pass
            state = self._read()
            yield state
            _atomic_write(self.root / INDEX, json.dumps(state, indent=2, default=str).encode())

    @staticmethod
    def _log(state: dict[str, Any], event: str, version: int, **detail: Any) -> None:
        state["history"].append({"at": _now(), "event": event, "version": version, **detail})

    @staticmethod
    def _set(state: dict[str, Any], version: int, status: str, reason: str) -> None:
        for v in state["versions"]:
            if v["version"] == version and v["status"] != status:
                ModelRegistry._log(state, status, version, previous=v["status"], reason=reason)
                v["status"] = status

    def register(self, model: Any, *, model_type: str, features: list[str], **record: Any) -> ModelVersion:
        """Store a new version (status `archived` until marked challenger).

        Idempotent: when the same model type was already trained on the same data version with the
        same params, features and code (its fingerprint), that version is returned unchanged and no
        artifact is written. A record whose artifact retention deleted gets it back."""
        code = record.pop("code_version", None) or code_version()
        fp = fingerprint(model_type, record.get("data_version", ""), record.get("params", {}), features, code)
        data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        with self._transaction() as state:
            same = next((v for v in state["versions"] if v.get("fingerprint") == fp), None)
            if same is not None:
                if same.get("artifact_removed"):
                    _atomic_write(self.root / same["artifact"], data)
                    same.update(artifact_removed=False, sha256=hashlib.sha256(data).hexdigest())
                return ModelVersion(**same)
            version = max((v["version"] for v in state["versions"]), default=0) + 1
            artifact = f"v{version:04d}_{model_type}.pkl"
            _atomic_write(self.root / artifact, data)
            info = ModelVersion(
                version=version, model_type=model_type, artifact=artifact,
                sha256=hashlib.sha256(data).hexdigest(), features=list(features),
                training_window=record.pop("training_window", {}), metrics=record.pop("metrics", {}),
                data_version=record.pop("data_version", ""),
                code_version=code, created_at=_now(), status="archived", fingerprint=fp, **record,
            )
            state["versions"].append(asdict(info))
            self._log(state, "registered", version, model_type=model_type)
        return info

    def record_round(self, version: int, gate: dict[str, Any]) -> None:
        """Remember the newest round's outcome (what the blocking check reports), e.g. a retrain
        identical to the champion, which leaves every status as it is."""
        with self._transaction() as state:
            state["last_round"] = {"version": version, "gate": gate, "at": _now()}

    def prune(self, keep_archived: int) -> list[int]:
        """Retention: delete the pickles of archived versions beyond the newest `keep_archived`
        (the records and history stay). Returns the versions whose artifact was deleted."""
        if keep_archived < 0:
            raise RegistryError(f"keep_archived must be >= 0, got {keep_archived}")
        removed: list[int] = []
        with self._transaction() as state:
            archived = [v for v in state["versions"] if v["status"] == "archived" and not v.get("artifact_removed")]
            for v in archived[: max(0, len(archived) - keep_archived)]:
                with contextlib.suppress(FileNotFoundError):
                    (self.root / v["artifact"]).unlink()
                v["artifact_removed"] = True
                removed.append(v["version"])
            if removed:
                self._log(state, "artifacts_removed", removed[-1], versions=removed,
                          reason=f"retention keeps the newest {keep_archived} archived artifacts")
        return removed

    def mark_challenger(self, version: int, gate: dict[str, Any]) -> ModelVersion:
        """Make `version` the one challenger (older challengers are archived) with its gate record."""
        with self._transaction() as state:
            state["last_round"] = {"version": version, "gate": gate, "at": _now()}
            ids = {v["version"] for v in state["versions"]}
            if version not in ids:
                raise RegistryError(f"model version {version} is not in the registry at {self.root}")
            for v in state["versions"]:
                if v["status"] == "challenger" and v["version"] != version:
                    self._set(state, v["version"], "archived", f"superseded by challenger v{version}")
                if v["version"] == version:
                    v["gate"] = gate
            self._set(state, version, "challenger", gate.get("reason", ""))
        return self.get(version)

    def archive(self, version: int, reason: str) -> None:
        with self._transaction() as state:
            self._set(state, version, "archived", reason)

    def promote(self, version: int) -> ModelVersion:
        """Challenger -> champion, only if its recorded gate passed against the current champion."""
        refused = None
        with self._transaction() as state:
            rec = next((v for v in state["versions"] if v["version"] == version), None)
            if rec is None:
                raise RegistryError(f"model version {version} is not in the registry at {self.root}")
            if rec["status"] == "champion":
                return ModelVersion(**rec)
            if rec["status"] != "challenger":
                raise PromotionRefused(f"model version {version} is {rec['status']}, not the challenger")
            gate = rec.get("gate") or {}
            current = next((v for v in state["versions"] if v["status"] == "champion"), None)
            current_id = current["version"] if current else None
            if gate.get("champion_version") != current_id:
                refused = (
                    f"the champion changed since v{version}'s gate was evaluated against "
                    f"v{gate.get('champion_version')} (now v{current_id}): retrain to re-evaluate"
                )
            elif not gate.get("passed"):
                refused = f"model version {version} stays challenger: {gate.get('reason', 'no gate')}"
            if refused:
                # Recorded in the history (the index is still written), then raised below.
                self._log(state, "promotion_refused", version, reason=refused)
            else:
                if current_id is not None:
                    self._set(state, current_id, "archived", f"replaced by champion v{version}")
                self._set(state, version, "champion", gate.get("reason", ""))
        if refused:
            raise PromotionRefused(refused)
        return self.get(version)


def champion_features(root: str | Path | None = None) -> set[str]:
    """Features the current champion reads; empty when there is no champion (drift sensor hook)."""
    champ = ModelRegistry(root).champion()
    return set(champ.features) if champ else set()


def versions_using(feature: str, root: str | Path | None = None) -> list[ModelVersion]:
    """Every registered model version (any status) trained on `feature`."""
    return ModelRegistry(root).versions_using(feature)
