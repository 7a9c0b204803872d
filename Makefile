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
	$(PY) -m feature_factory.instance_hook  # the startup file an editable install leaves out
	touch $@

# `make demo DEMO_ARGS="--customers 300 --days 40"` passes options (see `feature-factory demo --help`).
DEMO_ARGS ?=

demo: install
	$(PY) -m feature_factory.cli demo $(DEMO_ARGS)

# `make test TEST_WORKERS=1` runs in one process; the default spreads tests over every core
# (pytest-xdist), keeping the demo story's tests together on one worker (conftest.py).
TEST_WORKERS ?= auto

test: install
	scripts/ensure-chromium.sh
	scripts/ensure-redis.sh
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

# `make ui PORT=3456`: the UI's port (default 3000); the HTML reports are served on it under /reports/,
# where report links point (no port in them). REPORTS_PORT: a second port serving them, for links
# written by earlier versions (default 3001 when free; 0 for none). See docs/project-settings.md.
PORT ?= 3000
REPORTS_PORT ?=

ui: install
	$(PY) -m feature_factory.cli ui --port $(PORT) $(if $(REPORTS_PORT),--reports-port $(REPORTS_PORT))

# Benchmarks run in their own virtualenv: Feast is a benchmark-only extra, never a runtime dependency.
# The project installs with its constraints; bench/requirements.txt without them (Feast pins
# tenacity<9, constraints.txt has 9.x). `make bench BENCH_ARGS="--only pit_a"` passes options.
BENCH_VENV ?= .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_ARGS ?=

$(BENCH_VENV)/.installed: pyproject.toml constraints.txt setup.py bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet --upgrade pip
	$(BENCH_PY) -m pip install --quiet -c constraints.txt -e .
	$(BENCH_PY) -m pip install --quiet -r bench/requirements.txt
	touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) .feature_factory
