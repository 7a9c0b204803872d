"""`python -m bench` (`make bench`): the benchmarks of issue 8, each contender measured in its own process.

Workloads: pit_a, pit_b (point-in-time training set vs Feast and a bare ASOF join), drift (vs
Evidently and a bare quantile/histogram query), scale (10M events through Dagster: backfill and one
day), incremental (one day with 365 vs 30 days stored), orchestration (Dagster's per-step cost, the
demo), bgnbd (our churn champion vs BG/NBD on synthetic and CDNOW purchases). Writes results.json
and RESULTS.md. Feast runs only where it is installed (`make bench` builds `.venv-bench` with it);
elsewhere its contenders are reported as skipped.

Only argparse at module level: the CLI imports every subcommand module to build its parser.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_OUT = Path("bench/results")
DEFAULT_WORK = Path("bench/work")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes: checks the harness end to end in about a minute (not a measurement)")
    parser.add_argument("--only", action="append", metavar="WORKLOAD",
                        help="run only these workloads (repeat or comma-separate): pit_a, pit_b, drift, "
                             "scale, incremental, orchestration, staging, bgnbd; other workloads' results are kept")
    parser.add_argument("--contenders", action="append", metavar="NAME",
                        help="run only these contenders of the selected workloads (preparation steps always "
                             "run), e.g. ours,bare_asof")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"results folder (default {DEFAULT_OUT}; with --quick {DEFAULT_WORK}/quick/results)")
    parser.add_argument("--work", type=Path, default=None,
                        help=f"data and logs (default {DEFAULT_WORK}; with --quick {DEFAULT_WORK}/quick)")
    parser.add_argument("--mem-cap-gb", type=float, default=14.0,
                        help="kill a capped contender (Feast) whose process tree passes this RSS; never "
                             "closer than 3 GiB to the memory available when it starts")
    parser.add_argument("--cdnow", type=Path, default=None, metavar="PATH",
                        help="the CDNOW master file for the bgnbd workload (CDNOW_master.txt from the "
                             "lifetimes 0.11.3 wheel; see bench/bgnbd.py); without it its cdnow case fails "
                             "with that hint")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: re-judge the goals of the results folder's results.json "
                             "and rewrite its RESULTS.md")
    parser.add_argument("--repeat", type=int, default=None,
                        help="run each repeatable contender up to this many times and keep the median wall "
                             "time (default 3, 1 with --quick; one run when the first takes over a minute; "
                             "refreshes run once)")


def run(args: argparse.Namespace) -> int:
    from bench import runner

    if args.cdnow:  # read by the bgnbd workload's sizes and inherited by its child processes
        import os

        from bench.bgnbd import CDNOW_ENV

        os.environ[CDNOW_ENV] = str(args.cdnow.resolve())
    work = args.work or (DEFAULT_WORK / "quick" if args.quick else DEFAULT_WORK)
    out = args.out or (work / "results" if args.quick else DEFAULT_OUT)
    try:
        if args.report_only:
            results = runner.regenerate(out.resolve())
        else:
            results = runner.run(quick=args.quick, only=args.only, out=out.resolve(), work=work.resolve(),
                                 cap_gb=args.mem_cap_gb, repeat=args.repeat or (1 if args.quick else 3),
                                 contenders=args.contenders)
    except ValueError as exc:
        print(f"bench: {exc}")
        return 2
    missed = [g["goal"] for w in results["workloads"] for g in w["goals"] if not g["met"]]
    print(f"wrote {out / 'results.json'} and {out / 'RESULTS.md'}; "
          f"{len(missed)} goal(s) not met" + (": " + "; ".join(missed) if missed else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))
