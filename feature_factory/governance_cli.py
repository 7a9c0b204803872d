"""`feature-factory erase` and `feature-factory export` (issue 30): the governance commands, on the
deployment's resources (FEATURE_FACTORY_DEPLOYMENT, FEATURE_FACTORY_HOME, the online store's
variables), in this process: no Dagster run is started, so no run's config or log keeps the ids.

    feature-factory erase --entity customer C000123 C000456 [--rewrite-landing] [--request-retrain]
    feature-factory export --entity customer C000123 --out ./subject-C000123 [--format csv]

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


# cli.COMMANDS names these as "feature_factory.governance_cli:erase" / ":export".
erase = SimpleNamespace(add_arguments=_erase_arguments, run=_erase)
export = SimpleNamespace(add_arguments=_export_arguments, run=_export)
