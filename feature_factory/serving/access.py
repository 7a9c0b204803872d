"""Who may read what from the feature server: API keys with a scope of entities and features,
and masking of the features the catalog marks `pii: true`.

A keys file (`serve --keys FILE`, FEATURE_FACTORY_SERVE_KEYS) names each key and stores only the
SHA-256 of the key itself (`serve --new-key NAME` makes a key and prints its entry):

    keys:
      churn-scoring:                      # the name: shown in /metrics and logs (never the key)
        sha256: 5f4c...e1                 # hex SHA-256 of the key
        entities: [customer]              # entities it may read, or ["*"]
        features: [revenue_7d, purchases_7d]   # features it may read, or ["*"]
        pii: false                        # may it read `pii: true` features unmasked? (default false)

Rules (deny by default once any key is configured; with no keys file the server is open, as before,
except that PII features are masked for everyone: only a key with `pii: true` reads them):

| request | answer |
|---|---|
| no key (`Authorization: Bearer <key>` or `X-API-Key: <key>`) | 401 |
| a key not in the file | 401 |
| a key whose `entities` lack the served entity | 403 |
| `features` naming a feature outside the key's `features` | 403 naming them |
| `features` omitted | the served features within the key's scope |
| a `pii: true` feature, key without `pii: true` | 200, the value null for every entity, listed in `masked` |

The same holds for /schema (401/403, only the key's features, each with its `pii` mark and whether
it is masked for this caller). /health and /metrics name no feature and stay open (probes,
Prometheus). A key is compared by its hash; neither the key nor its hash reaches a log line or a
metric (a key is known there by its name).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

KEYS_ENV = "FEATURE_FACTORY_SERVE_KEYS"
ALL = "*"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FIELDS = {"sha256", "entities", "features", "pii"}
ANONYMOUS = "anonymous"  # the metrics label of requests without a key
UNKNOWN = "unknown"  # ... and of requests with a key not in the file


class AccessError(ValueError):
    """An invalid keys file; the message names the file and the entry."""


class Denied(Exception):
    """A request refused: 401 (no or unknown key) or 403 (outside the key's scope)."""

    def __init__(self, status: int, message: str, key: str) -> None:
        super().__init__(message)
        self.status, self.message, self.key = status, message, key


@dataclass(frozen=True)
class Scope:
    """What one key may read. `entities`/`features` None: all."""

    name: str
    entities: frozenset[str] | None
    features: frozenset[str] | None
    pii: bool = False

    def visible(self, served: Iterable[str]) -> list[str]:
        """The served features this key may read, in served order."""
        return list(served) if self.features is None else [f for f in served if f in self.features]

    def masked(self, pii: Iterable[str]) -> frozenset[str]:
        """The PII features this key sees as null."""
        return frozenset() if self.pii else frozenset(pii)


# No keys configured: every entity and feature, as before keys existed, but PII masked: reading a
# `pii: true` feature unmasked always takes a key with the pii scope.
OPEN = Scope(ANONYMOUS, None, None, pii=False)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A random key (256 bits): a plain SHA-256 of it is safe to store, no slow hash needed."""
    return "ffk_" + secrets.token_urlsafe(32)


def _names(value, what: str, where: str) -> frozenset[str] | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise AccessError(f"{where}: {what} must be a non-empty list of names, or [\"*\"] for all")
    return None if ALL in value else frozenset(value)


@dataclass(frozen=True)
class Policy:
    """The keys of one server (empty: open)."""

    by_hash: dict[str, Scope]
    source: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.by_hash)

    def authenticate(self, presented: str | None, entity: str) -> Scope:
        """The scope of the presented key for `entity`'s server, or Denied (401 / 403)."""
        if not self.by_hash:
            return OPEN
        if not presented:
            raise Denied(401, "an API key is required: send `Authorization: Bearer <key>` (or `X-API-Key: <key>`)",
                         ANONYMOUS)
        scope = self.by_hash.get(hash_key(presented))
        if scope is None:
            raise Denied(401, "the API key is not recognised", UNKNOWN)
        if scope.entities is not None and entity not in scope.entities:
            raise Denied(403, f"key {scope.name!r} may not read {entity} features (its entities: "
                         f"{sorted(scope.entities)})", scope.name)
        return scope


def load_policy(path: str | os.PathLike | None) -> Policy:
    """The keys file at `path` (None or empty: no keys, an open server)."""
    if not path:
        return Policy({})
    import yaml

    where = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise AccessError(f"cannot read keys file {where}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise AccessError(f"keys file {where} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict) or set(raw) != {"keys"} or not isinstance(raw["keys"], dict) or not raw["keys"]:
        raise AccessError(f"keys file {where}: expected one mapping `keys:` of key name -> "
                          "{sha256, entities, features, pii}")
    by_hash: dict[str, Scope] = {}
    for name, entry in raw["keys"].items():
        label = f"keys file {where}, key {name!r}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise AccessError(f"{label}: a key name is letters, digits, '_', '.', '-' (up to 64)")
        if not isinstance(entry, dict):
            raise AccessError(f"{label}: expected a mapping with {sorted(_FIELDS)}")
        unknown = sorted(set(entry) - _FIELDS)
        if unknown:
            raise AccessError(f"{label}: unknown field(s) {unknown}; a key has {sorted(_FIELDS)}")
        missing = sorted({"sha256", "entities", "features"} - set(entry))
        if missing:
            raise AccessError(f"{label}: missing {missing}")
        digest = str(entry["sha256"]).strip().lower()
        if not _HEX64.match(digest):
            raise AccessError(f"{label}: sha256 must be the 64 hex digits of the key's SHA-256 "
                              "(`feature-factory serve --new-key NAME` prints one); never the key itself")
        if digest in by_hash:
            raise AccessError(f"{label}: the same key as {by_hash[digest].name!r}")
        pii = entry.get("pii", False)
        if not isinstance(pii, bool):
            raise AccessError(f"{label}: pii must be true or false")
        by_hash[digest] = Scope(name, _names(entry["entities"], "entities", label),
                                _names(entry["features"], "features", label), pii)
    return Policy(by_hash, where)


def policy_from_env() -> Policy:
    return load_policy(os.environ.get(KEYS_ENV) or None)


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The key of a request: `Authorization: Bearer <key>` or `X-API-Key: <key>` (ASGI headers)."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == b"x-api-key" and value.strip():
            return value.decode("latin-1").strip()
    return None


def key_entry(name: str, key: str, entities: list[str] | None = None) -> str:
    """The keys-file entry of a new key (what `serve --new-key` prints): all features, no PII."""
    if not _NAME.match(name):
        raise AccessError(f"key name {name!r}: letters, digits, '_', '.', '-' (up to 64)")
    ents = ", ".join(entities or ["customer"])
    return (f"  {name}:\n    sha256: {hash_key(key)}\n    entities: [{ents}]\n"
            "    features: [\"*\"]      # or a list of feature names\n    pii: false           # true: PII features unmasked\n")
