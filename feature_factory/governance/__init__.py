"""Governance (issue 30): erase an entity's ids everywhere, export them, and the ledger of both.

Pure logic in `targets` (where an entity's ids live), `erase`, `landing`, `models`, `export`;
Dagster wiring in `definitions` (erase_entity_job); the commands in `cli` (`feature-factory erase`,
`feature-factory export`). The layer after health: it reads every domain's tables and stores.
"""
