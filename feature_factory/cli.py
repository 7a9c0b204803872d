"""`feature-factory` command line: generate data, run the demo story, open the UI, serve features.

The benchmarks are not part of the installed package: `make bench` (or `python -m bench` in a checkout).

Subcommands live beside the code they drive; this module only dispatches, importing each lazily so
`feature-factory generate` does not pay for loading Dagster.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, help). Each module defines `add_arguments(parser)` and `run(args) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("feature_factory.instance_hook", "prepare the Dagster instance (before running `dagster` directly)"),
    "generate": ("feature_factory.synthetic.cli", "write synthetic landing files"),
    "demo": ("feature_factory.demo", "run the whole story on the embedded DuckDB"),
    "ui": ("feature_factory.ui", "open the Dagster UI on the project's instance"),
    "serve": ("feature_factory.serving.cli", "serve online features over HTTP from the online store"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="feature-factory", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        # Lazy by name so `generate` does not load Dagster; every module exists (no fallback).
        module = importlib.import_module(module_name)
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=help_text))
    args = parser.parse_args(argv)
    return int(modules[args.command].run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
