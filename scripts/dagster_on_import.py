"""Which feature_factory modules load Dagster on import: one fresh interpreter per module.

Usage: PYTHONPATH=ROOT python scripts/dagster_on_import.py ROOT > result.txt (ROOT: the checkout measured)
Prints `yes|no module` per module and a total line; run with the checkout's PYTHONPATH.
"""
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
PKG = ROOT / "feature_factory"
CHECK = "import importlib, sys; importlib.import_module(sys.argv[1]); print('dagster' in sys.modules)"


def name(p: Path) -> str:
    return ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def loads_dagster(mod: str) -> str:
    out = subprocess.run([sys.executable, "-c", CHECK, mod], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        return "error"
    return "yes" if out.stdout.strip() == "True" else "no"


mods = sorted(name(p) for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)
with ThreadPoolExecutor(2) as pool:
    results = list(pool.map(loads_dagster, mods))
for r, m in zip(results, mods):
    print(r, m)
print(f"total: {results.count('yes')} of {len(mods)} modules load dagster on import"
      f" ({results.count('error')} failed to import)")
