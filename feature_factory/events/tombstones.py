"""Tombstones of erased entity ids, and the ingestion step that keeps them out (issue 30).

An erasure (feature_factory/governance/erase.py) removes an id's rows everywhere and writes a
tombstone to `erased_entities`: the hex SHA-256 of the project's erasure salt followed by the id,
never the id itself. The salt is a random secret in the project home (`<home>/governance/
erasure_salt`), not in the warehouse, so the tombstone table alone cannot be turned back into ids
by hashing a list of candidate ids.

Ingestion calls `quarantine_erased` once per batch, as its own step after the batch reasons: a row
whose entity key (normalized as the source's rules normalize it) hashes to a tombstone of that
entity gets the reason `erased_entity`, so a re-landed file cannot bring an erased id back into the
raw table and the features. The hash is computed in the warehouse (`Dialect.sha256_hex`), so the
check is one UPDATE over the batch, and it costs nothing while no id was ever erased.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from feature_factory import tables
from feature_factory.catalog.sources import SourceSpec
from feature_factory.events import validation as rules
from feature_factory.settings import Homes
from feature_factory.warehouse.interface import Session
from feature_factory.warehouse.sql import sql_literal

if TYPE_CHECKING:  # only passed in (the resource class loads Dagster)
    from feature_factory.warehouse.base import Warehouse

ERASED_ENTITY = rules.ERASED_ENTITY
SALT_FILE = Path("governance") / "erasure_salt"
TOMBSTONES = tables.ERASED_ENTITIES.name


class TombstoneError(RuntimeError):
    """Erased ids cannot be recognized (the salt is missing); the message names the file and the fix."""


def salt_path(homes: Homes | None = None) -> Path:
    return (homes or Homes()).root() / SALT_FILE


def load_salt(homes: Homes | None = None, *, create: bool = False) -> str | None:
    """The project's erasure salt (64 hex characters); created (mode 0600) when `create` and absent,
    else None when absent."""
    path = salt_path(homes)
    if path.exists():
        salt = path.read_text().strip()
        if len(salt) < 32:
            raise TombstoneError(f"erasure salt {path} is too short ({len(salt)} characters): restore it from a backup")
        return salt
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_hex(32)
    # O_EXCL: two erasures starting at once agree on one salt (the loser reads the winner's).
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_salt(homes)
    with os.fdopen(fd, "w") as fh:
        fh.write(salt + "\n")
    return salt


def id_hash(salt: str, entity_id: str) -> str:
    """The tombstone of `entity_id`: what `sha256_hex(salt || id)` gives in the warehouse."""
    return hashlib.sha256((salt + entity_id).encode()).hexdigest()


def ensure_table(session: Session) -> None:
    session.execute(f"CREATE TABLE IF NOT EXISTS {TOMBSTONES} ({tables.ERASED_ENTITIES.ddl()})")


def erased_entities(warehouse: Warehouse, session: Session, spec: SourceSpec) -> list[str]:
    """The entities keyed in `spec` that have at least one tombstone ([] when none was ever written)."""
    if not spec.entity_keys or not warehouse.session_columns(session, TOMBSTONES):
        return []
    names = [e for e, _ in spec.entity_keys]
    marks = ", ".join("?" for _ in names)
    return [r[0] for r in session.fetch_all(
        f"SELECT DISTINCT entity FROM {TOMBSTONES} WHERE entity IN ({marks})", names)]


def quarantine_erased(warehouse: Warehouse, session: Session, spec: SourceSpec, batch: str,
                      homes: Homes | None = None) -> int:
    """Set reason `erased_entity` on the rows of `batch` (a table of ingestion's batch: the landed
    text of `spec`'s string columns and a `reason` column) whose entity key has a tombstone.
    Returns how many rows it marked."""
    entities = erased_entities(warehouse, session, spec)
    if not entities:
        return 0
    salt = load_salt(homes)
    if salt is None:
        raise TombstoneError(
            f"{TOMBSTONES} holds tombstones of {', '.join(entities)} but the erasure salt "
            f"{salt_path(homes)} is missing: restore it from the project home's backup (without it erased "
            "ids cannot be recognized and would be ingested again)")
    keys = dict(spec.entity_keys)
    hashed = [f"{warehouse.dialect.sha256_hex(f'CAST(? AS VARCHAR) || {rules.value_sql(spec.column(keys[e]), keys[e])}')} "
              f"IN (SELECT id_hash FROM {TOMBSTONES} WHERE entity = {sql_literal(e)})" for e in entities]
    before = session.fetch_one(f"SELECT COUNT(*) FROM {batch} WHERE reason = ?", [ERASED_ENTITY])
    session.execute(f"UPDATE {batch} SET reason = {sql_literal(ERASED_ENTITY)} WHERE "
                    + " OR ".join(f"({h})" for h in hashed), [salt] * len(hashed))
    after = session.fetch_one(f"SELECT COUNT(*) FROM {batch} WHERE reason = ?", [ERASED_ENTITY])
    return int(after[0]) - int(before[0])

