"""`feature-factory erase`, `export` and `snapshot` (issue 30): the governance commands, on the
deployment's resources (FEATURE_FACTORY_DEPLOYMENT, FEATURE_FACTORY_HOME, the online store's
variables), in this process: no Dagster run is started, so no run's config or log keeps the ids.

    feature-factory erase --entity customer C000123 C000456 [--rewrite-landing] [--request-retrain]
    feature-factory export --entity customer C000123 --out ./subject-C000123 [--format csv]
    feature-factory snapshot list | create [NAME] | export NAME --out DIR | restore NAME

`erase` prints what it removed where, the re-count, the model versions fit on the ids and what it
could not reach; exit code 0 when every table and store re-counts 0 rows, 1 otherwise, 2 on a bad
request. The reference is docs/governance.md.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from types import SimpleNamespace


def _resources():
    from feature_factory import deployment

    return deployment.resources_for()


def _erase_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="+", help="the ids to erase (values of the entity's key)")
    parser.add_argument("--entity", default="customer", help="the entity (sources file `entities:`); default customer")
    parser.add_argument("--requested-by", default=None, help="who asks (recorded in erasure_ledger); default: "
                        "the user running the command")
    parser.add_argument("--rewrite-landing", action="store_true",
                        help="rewrite the landing files that hold the ids without them (default: report them)")
    parser.add_argument("--request-retrain", action="store_true",
                        help="ask for the entity model's retrain job when a model version was fit on the ids' rows")


def _erase(args: argparse.Namespace) -> int:
    from feature_factory.governance.erase import ErasureError, ErasureRequest
    from feature_factory.governance.runner import erase_with

    try:
        request = ErasureRequest.of(args.entity, args.ids, args.requested_by or getpass.getuser(),
                                    rewrite_landing=args.rewrite_landing, request_retrain=args.request_retrain)
        result = erase_with(_resources(), request)
    except ErasureError as exc:
        print(f"feature-factory erase: {exc}", file=sys.stderr)
        return 2
    print(f"{result.erasure_id}: {result.subjects} {result.entity} id(s), {result.rows_erased} row(s) and "
          f"entries erased in {result.seconds:.1f}s by {result.requested_by}")
    for r in result.rows:
        if r.target_kind == "landing_file":  # one line for them all below
            continue
        counts = "" if r.rows_erased is None else f" erased {r.rows_erased},"
        left = "" if r.rows_remaining is None else f" remaining {r.rows_remaining}"
        print(f"  {r.target_kind:<15} {r.target:<40}{counts}{left}  {r.detail}")
    files = result.landing_files
    if files:
        rewritten = [f for f in files if f.rewritten]
        names = ", ".join(f.rel for f in files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        print(f"  landing files   {len(files)} hold {sum(f.rows for f in files)} row(s) of the ids ({names}): "
              + (f"{len(rewritten)} rewritten without them" if rewritten else
                 "reported, not changed (rewrite them with --rewrite-landing, or remove them); landed again, "
                 "their rows of the ids go to quarantine as erased_entity")
              + " (erasure_ledger lists each)")
    if result.models:
        print("model versions fit on the ids' rows: " + ", ".join(f"v{m.version} ({m.status})" for m in result.models))
    print("verified: every table and store re-counted 0 rows" if result.verified else
          "NOT verified: see the rows with remaining > 0 above")
    return 0 if result.verified else 1


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="+", help="the ids whose rows to export")
    parser.add_argument("--entity", default="customer", help="the entity (sources file `entities:`); default customer")
    parser.add_argument("--out", required=True, type=Path, help="a new (or empty) folder for the files and manifest.json")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="file format (default parquet)")


def _export(args: argparse.Namespace) -> int:
    from feature_factory.governance.export import ExportError
    from feature_factory.governance.runner import export_with

    try:
        manifest = export_with(_resources(), args.entity, args.ids, args.out, args.format)
    except ExportError as exc:
        print(f"feature-factory export: {exc}", file=sys.stderr)
        return 2
    print(f"{manifest.rows} row(s) of {manifest.subjects} {manifest.entity} id(s) in "
          f"{sum(t.rows > 0 for t in manifest.tables)} table(s) -> {args.out}/manifest.json")
    for t in manifest.tables:
        if t.rows:
            print(f"  {t.table:<32} {t.rows:>7}  {t.file}")
    return 0


def _snapshot_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("list", "create", "export", "restore"),
                        help="list the snapshots; create one of training_set; export one (Parquet + manifest.json); "
                        "restore training_set from one (checked against its fingerprint)")
    parser.add_argument("name", nargs="?", default=None, help="the snapshot (create: default named after its rows)")
    parser.add_argument("--out", type=Path, default=None, help="export: the folder to write to")


def _snapshot(args: argparse.Namespace) -> int:
    from feature_factory.ml import training_snapshots as snaps

    warehouse = _resources()["warehouse"]
    try:
        if args.action == "list":
            for s in snaps.list_snapshots(warehouse):
                print(f"{s.name:<28} {s.rows:>8} rows  labels {s.label_window or '-':<24} {s.created_at}  "
                      f"{s.created_by}  rows {s.row_fingerprint[:12]}  definitions {s.definitions_fingerprint[:12]}")
            return 0
        if args.action == "create":
            from feature_factory.catalog import load_catalog

            s = snaps.create(warehouse, args.name, features=load_catalog().trainable(), created_by=getpass.getuser())
            print(f"snapshot {s.name}: {s.rows} rows of {s.source_table} in {s.snapshot_table}")
            return 0
        if not args.name:
            print(f"feature-factory snapshot {args.action}: name the snapshot", file=sys.stderr)
            return 2
        if args.action == "export":
            if args.out is None:
                print("feature-factory snapshot export: give --out DIR", file=sys.stderr)
                return 2
            m = snaps.export(warehouse, args.name, args.out)
            print(f"{m['rows_exported']} rows -> {args.out}/{m['file']} (+ manifest.json)")
            return 0
        s = snaps.restore(warehouse, args.name)
        print(f"{s.source_table} rebuilt from snapshot {s.name}: {s.rows} rows, fingerprint verified")
        return 0
    except snaps.SnapshotError as exc:
        print(f"feature-factory snapshot: {exc}", file=sys.stderr)
        return 2


# cli.COMMANDS names these as "feature_factory.governance_cli:erase" / ":export".
erase = SimpleNamespace(add_arguments=_erase_arguments, run=_erase)
export = SimpleNamespace(add_arguments=_export_arguments, run=_export)
snapshot = SimpleNamespace(add_arguments=_snapshot_arguments, run=_snapshot)
