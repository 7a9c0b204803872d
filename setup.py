# Metadata lives in pyproject.toml; this shim keeps `pip install -e .` working on older tooling, and
# installs feature_factory_instance.pth into site-packages (editable installs included): at startup
# it prepares a new DAGSTER_HOME for plain `dagster` / `dg` commands (feature_factory/instance_hook.py).
import os
import sysconfig

from setuptools import setup

# site-packages relative to the environment's prefix (lib/python3.11/site-packages in a venv).
SITE_PACKAGES = os.path.relpath(sysconfig.get_path("purelib"), sysconfig.get_path("data"))

setup(data_files=[(SITE_PACKAGES, ["feature_factory_instance.pth"])])
