"""`feature-factory generate`: synthetic landing files (and ground truth) for the demo and tests.

Imports nothing heavy at module level (the config module is stdlib only); numpy/pyarrow load only
when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from feature_factory.synthetic.config import SCHEMA_CHANGES, DriftConfig, GeneratorConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=2000,
                        help="customers active at the start; churners are replaced by newcomers")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--start", default=None,
                        help="first day, YYYY-MM-DD (default: FEATURE_FACTORY_START_DATE)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="landing folder (default: the project's)")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--files-per-day", type=int, default=1)
    parser.add_argument("--append-days", type=int, default=0, metavar="N",
                        help="land the N days after the first --days of the same population (give the "
                             "flags of the earlier run unchanged); existing files are left as they are")
    parser.add_argument("--truth-out", type=Path, default=None,
                        help="ground truth folder, outside the landing folder"
                             " (default: <home>/ground_truth for the default landing)")
    drift = parser.add_argument_group("drift injection (each needs --drift-start)")
    drift.add_argument("--drift-start", default=None, help="first drifted day, YYYY-MM-DD")
    drift.add_argument("--amount-shift", type=float, default=0.0, metavar="STD",
                       help="shift purchase/refund amounts by this many baseline stds (e.g. 0.5)")
    drift.add_argument("--outlier-rate", type=float, default=0.0, metavar="R",
                       help="share of purchases with amounts 20-50x the median, in bursts (e.g. 0.02)")
    drift.add_argument("--missing-amount-rate", type=float, default=0.0, metavar="R",
                       help="extra share of purchase/refund amounts left blank (e.g. 0.10)")
    drift.add_argument("--channel-shift", type=float, default=0.0, metavar="S",
                       help="added to the mobile share (e.g. 0.3)")
    drift.add_argument("--schema-change", choices=SCHEMA_CHANGES, default=None,
                       help="from --drift-start: an extra column, amount renamed, amount as"
                            " '12.50 USD' text, or event_ts as epoch seconds")


def run(args: argparse.Namespace) -> int:
    from feature_factory import settings
    from feature_factory.synthetic.generator import generate

    try:
        config = GeneratorConfig(
            customers=args.customers,
            days=args.days,
            start=args.start or settings.start_date(),
            seed=args.seed,
            fmt=args.format,
            out_dir=args.out or settings.landing_dir(),
            truth_dir=args.truth_out,
            files_per_day=args.files_per_day,
            append_days=args.append_days,
            drift=DriftConfig(
                start=args.drift_start,
                amount_shift=args.amount_shift,
                outlier_rate=args.outlier_rate,
                missing_amount_rate=args.missing_amount_rate,
                channel_shift=args.channel_shift,
                schema_change=args.schema_change,
            ),
        )
    except ValueError as exc:
        print(f"feature-factory generate: {exc}", file=sys.stderr)
        return 2
    try:
        result = generate(config)
    except ValueError as exc:
        print(f"feature-factory generate: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    if args.out is None:  # the project's landing: its partitions follow the data (project_env)
        from feature_factory import project_env

        moved = project_env.extend_end_date(settings.home(), config.last_day.isoformat())
        if moved:
            print(f"{project_env.END_DATE} in {project_env.path(settings.home())} moved to {moved}: "
                  "reload the code location (UI: Deployment -> Reload) to see the new partitions")
    return 0
