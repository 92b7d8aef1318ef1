# skuplan: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
JARS_DIR := .cache/jars
# The demo's run date is fixed so that repeated demos give identical tables.
RUN_DATE ?= 2026-06-30
ENV ?= local
JOB_ARGS := --env $(ENV) --run-date $(RUN_DATE)

.PHONY: help setup demo test bench lint format lock clean package browser

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

# Delta's jars, matching the installed pyspark and delta-spark, from Maven Central (no Maven
# needed; see skuplan.jars). They follow the lock: a new delta-spark fetches its jars again.
$(JARS_DIR)/.resolved: requirements.lock | $(VENV)/.installed
	$(PY) -m skuplan setup
	touch $@

# Cluster artefacts. The environment holds the dependencies only: it changes with
# requirements.lock, takes minutes to build and is cached; the code travels separately as a
# wheel (and the same wheel named .zip, the suffix spark-submit's --py-files recognises).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
WHEEL := dist/skuplan-$(VERSION)-py3-none-any.whl
ENV_ARCHIVE := dist/skuplan-env.tar.gz
PACK_VENV := .cache/pack-venv
VENV_PACK := venv-pack==0.2.0
WHEEL_SOURCES := $(shell find lib -name '*.py' -not -path '*/__pycache__/*') \
	$(wildcard conf/*.yaml expectations/*.json lib/skuplan/*.properties lib/skuplan/report/assets/*)

$(WHEEL): pyproject.toml $(WHEEL_SOURCES) | $(VENV)/.installed
	rm -rf build dist/skuplan-*.whl
	$(PY) -m pip wheel --quiet --no-deps -w dist .
	rm -rf build

dist/skuplan.zip: $(WHEEL)
	cp $< $@

# Installs the wheel's dependencies (with the `spark` extra, for delta-spark's Python API) at
# the locked versions into a fresh venv, then removes skuplan (shipped as dist/skuplan.zip)
# and pyspark (every cluster brings its own, and a second copy would shadow it with 450 MB of
# jars) before packing.
$(ENV_ARCHIVE): requirements.lock pyproject.toml | $(WHEEL)
	rm -rf $(PACK_VENV) && $(PYTHON) -m venv $(PACK_VENV)
	$(PACK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PACK_VENV)/bin/python -m pip install --quiet -c requirements.lock '$(WHEEL)[spark]'
	$(PACK_VENV)/bin/python -m pip uninstall --quiet --yes skuplan pyspark
	$(PY) -m pip install --quiet $(VENV_PACK)
	$(VENV)/bin/venv-pack --quiet --force --prefix $(PACK_VENV) --format tar.gz --output $@.tmp
	mv $@.tmp $@

package: $(WHEEL) dist/skuplan.zip $(ENV_ARCHIVE) ## Build the wheel and the Python environment archive for spark-submit

setup: $(VENV)/.installed $(JARS_DIR)/.resolved ## Install Python deps into .venv and cache Delta's jars (needs network once)

# Debian's chromium, for the test that opens the HTML report in a real headless browser.
# Installed once (the file target is skipped when it exists); apt needs root (CI runs as root).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium

browser: $(CHROMIUM) ## Install Debian's chromium for the report's browser test (apt, needs root)

demo: setup ## Generate demo data and run the whole pipeline on local Spark (ends with the report's path)
	$(VENV)/bin/skuplan demo $(JOB_ARGS) --set tracking.mlflow=mlruns \
		--set 'forecast.hierarchy.levels={location: [location], category_location: [category, location]}'

# Airflow, for the test that loads docs/airflow's DAG with Airflow's DagBag: the `airflow`
# extra in a venv of its own (its pins clash with ours). Not installable (no network, no
# wheel for this Python): the test says so and skips; the next `make test` tries again.
AIRFLOW_VENV := .cache/airflow-venv
AIRFLOW_REQS = $(shell $(PYTHON) -c "import tomllib; print(' '.join(repr(r) for r in tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['airflow']))")

$(AIRFLOW_VENV)/.installed: pyproject.toml
	@rm -rf $(AIRFLOW_VENV)
	@echo "Installing Airflow into $(AIRFLOW_VENV) (the DAG test)"
	@($(PYTHON) -m venv $(AIRFLOW_VENV) && $(AIRFLOW_VENV)/bin/python -m pip install --quiet $(AIRFLOW_REQS) \
	  && touch $@) || echo "Airflow could not be installed: the DagBag test will be skipped"

test: setup package browser $(AIRFLOW_VENV)/.installed ## Run the test suite (builds the cluster archive its standalone-cluster test submits; installs chromium and, in its own venv, Airflow)
	$(PY) -m pytest

bench: setup ## Run the benchmarks (about half an hour on 2 cores): prints a table, updates BENCHMARKS.md
	$(PY) bench/suite.py

lint: setup ## Check style with ruff
	$(VENV)/bin/ruff check lib jobs tests bench
	$(VENV)/bin/ruff format --check lib jobs tests bench

format: setup ## Reformat with ruff
	$(VENV)/bin/ruff check --fix lib jobs tests bench
	$(VENV)/bin/ruff format lib jobs tests bench

lock: ## Re-resolve requirements.lock from pyproject.toml in a scratch venv
	rm -rf .cache/lock-venv && $(PYTHON) -m venv .cache/lock-venv
	.cache/lock-venv/bin/pip install --quiet '.[dev]'
	{ head -2 requirements.lock; .cache/lock-venv/bin/pip freeze | grep -v '^skuplan'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean: ## Remove the demo warehouse and caches (keeps .venv and the jar cache)
	rm -rf warehouse spark-warehouse metastore_db derby.log .pytest_cache
