# The two commands a user needs: `make demo` and `make test`. Both create the project virtualenv
# on first use. FEATURE_FACTORY_HOME and DAGSTER_HOME are honoured when set.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export FEATURE_FACTORY_HOME ?= $(CURDIR)/.feature_factory
export DAGSTER_HOME ?= $(FEATURE_FACTORY_HOME)/dagster_home

.PHONY: install demo test ui bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

demo: install
	$(PY) -m feature_factory.cli demo

test: install
	scripts/ensure-chromium.sh
	$(PY) -m pytest -q

ui: install
	$(PY) -m feature_factory.cli ui

bench: install
	$(PY) -m feature_factory.cli bench

clean:
	rm -rf $(VENV) .feature_factory
