"""Plain `dagster` / `dg` commands on a brand-new DAGSTER_HOME are safe too (issue 28, item 6).

Dagster opens the instance before it loads any code location, and with no `dagster.yaml` it creates
its stock SQLite storage unlocked: two commands started together on a new home fail ("table runs
already exists") or leave it broken for good ("alembic_version has more than one head"). Nothing of
the project runs that early in such a process except what Python runs at startup, so the install
ships `feature_factory_instance.pth` (setup.py), whose one line calls `prepare()` in every process
of the environment. It returns at once unless the process is a Dagster command line and
DAGSTER_HOME names a folder without `dagster.yaml`; then it writes the project's `dagster.yaml`
(instance.write_config: atomically, under the instance lock), which names `LockedSqliteStorage`, so
the storage those commands create is created once, under the same lock.

Where the file comes from: a wheel install (`pip install .`) puts it in site-packages through
setup.py's data_files; an editable install (`pip install -e .`) does not (setuptools' editable
wheels skip data files), so `make install` and `feature-factory init` put it there
(`install_startup_file`, also `python -m feature_factory.instance_hook`).

Standard library only until it has something to write: this runs in every Python process."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# The console scripts of dagster, dagster-webserver and dagster-dg-cli that open an instance.
CLI_NAMES = frozenset({"dagster", "dg", "dagster-webserver", "dagster-daemon", "dagster-graphql"})
MODULES = frozenset({"dagster", "dagster_dg_cli", "dagster_webserver", "dagster_graphql"})


PTH_NAME = "feature_factory_instance.pth"
PTH_LINE = "import feature_factory.instance_hook as _ff_hook; _ff_hook.prepare(); del _ff_hook\n"


def is_dagster_cli(argv: Sequence[str]) -> bool:
    """`argv` as the interpreter saw it (sys.orig_argv): `python /venv/bin/dagster ...` or
    `python -m dagster ...`."""
    args = list(argv[1:])
    if len(args) >= 2 and args[0] == "-m":
        return args[1] in MODULES
    return bool(args) and Path(args[0]).name in CLI_NAMES


def home_to_prepare(argv: Sequence[str], environ: Mapping[str, str]) -> Path | None:
    """The DAGSTER_HOME this process would open with Dagster's stock, unlocked storage, if any."""
    home = environ.get("DAGSTER_HOME")
    if not home or not is_dagster_cli(argv):
        return None
    path = Path(os.path.expanduser(home))
    if not path.is_absolute() or (path / "dagster.yaml").exists() or (path.exists() and not path.is_dir()):
        return None  # Dagster's own error for a relative path; a user's dagster.yaml is theirs
    return path


def prepare(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """Write the project's dagster.yaml into a new DAGSTER_HOME of a Dagster command; never raises
    (a failure here must not stop the interpreter: Dagster then reports what is wrong itself)."""
    try:
        home = home_to_prepare(sys.orig_argv if argv is None else argv, os.environ if environ is None else environ)
        if home is None:
            return None
        from feature_factory.instance import write_config

        write_config(home)
        return home
    except Exception as exc:  # noqa: BLE001 (startup must go on)
        print(f"feature-factory: could not prepare DAGSTER_HOME ({type(exc).__name__}: {exc}); "
              "run `feature-factory init` first", file=sys.stderr)
        return None


def install_startup_file(site_packages: Path | None = None) -> Path:
    """Put the startup file in this environment's site-packages (idempotent); return its path."""
    import sysconfig

    path = Path(site_packages or sysconfig.get_path("purelib")) / PTH_NAME
    if not path.exists() or path.read_text() != PTH_LINE:
        tmp = path.with_name(f".{PTH_NAME}.{os.getpid()}")
        tmp.write_text(PTH_LINE)
        tmp.replace(path)
    return path


# `feature-factory init`: prepare the instance, and put the startup file in site-packages (an
# editable install leaves it out). Imports the instance module only when run (see the docstring).
def add_arguments(parser) -> None:
    from feature_factory import instance

    instance.add_arguments(parser)


def run(args) -> int:
    from feature_factory import instance

    code = instance.run(args)
    try:
        print(f"plain dagster commands prepare a new DAGSTER_HOME: {install_startup_file()}")
    except OSError as exc:
        print(f"note: plain dagster commands on a new DAGSTER_HOME are not prepared ({exc})")
    return code


if __name__ == "__main__":
    print(f"plain dagster commands prepare a new DAGSTER_HOME: {install_startup_file()}")
