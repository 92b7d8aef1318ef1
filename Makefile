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

.PHONY: help setup demo test lint format lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

$(JARS_DIR)/.resolved: deps/pom.xml
	@command -v mvn >/dev/null || { echo "Maven (mvn) not found: install it (e.g. apt-get install maven) to fetch Delta's jars"; exit 1; }
	rm -rf $(JARS_DIR)
	mvn --batch-mode --quiet -f deps/pom.xml -Dmaven.repo.local=$(CURDIR)/.cache/m2 \
		dependency:copy-dependencies -DincludeGroupIds=io.delta -DoutputDirectory=$(CURDIR)/$(JARS_DIR)
	touch $@

setup: $(VENV)/.installed $(JARS_DIR)/.resolved ## Install Python deps into .venv and cache Delta's jars (needs network once)

demo: setup ## Generate demo data and run the whole pipeline on local Spark (tables under ./warehouse)
	$(PY) jobs/generate_demo_data.py $(JOB_ARGS)
	$(PY) jobs/run_pipeline.py $(JOB_ARGS)

test: setup ## Run the test suite
	$(PY) -m pytest

lint: setup ## Check style with ruff
	$(VENV)/bin/ruff check lib jobs tests
	$(VENV)/bin/ruff format --check lib jobs tests

format: setup ## Reformat with ruff
	$(VENV)/bin/ruff check --fix lib jobs tests
	$(VENV)/bin/ruff format lib jobs tests

lock: ## Re-resolve requirements.lock from pyproject.toml in a scratch venv
	rm -rf .cache/lock-venv && $(PYTHON) -m venv .cache/lock-venv
	.cache/lock-venv/bin/pip install --quiet '.[dev]'
	{ head -2 requirements.lock; .cache/lock-venv/bin/pip freeze | grep -v '^skuplan'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean: ## Remove the demo warehouse and caches (keeps .venv and the jar cache)
	rm -rf warehouse spark-warehouse metastore_db derby.log .pytest_cache
