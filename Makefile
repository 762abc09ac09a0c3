# YRD Emissions Watch — developer and operator entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# The environment is rebuilt when the dependency list changes (the stamp carries its hash).
DEPS_HASH := $(shell cat pyproject.toml | sha1sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(DEPS_HASH)
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv run test test-fast lint format bench check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "Setting up $(VENV) (first run takes a few minutes; later runs reuse it)…"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[all,dev]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)
	@echo "Environment ready."

venv: $(STAMP) ## create or reuse the virtual environment (.venv) with every extra

run: $(STAMP) ## start the platform (embedded default, demo traffic) and print where to look
	@$(BIN)/emwatch run

test: $(STAMP) ## run every test tier (unit, component, integration) — what CI runs
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## unit tests only
	@$(BIN)/python -m pytest tests/unit -q $(PYTEST_ARGS)

lint: $(STAMP) ## ruff lint + format check + import-layering contracts + mypy on the pure kernel
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/lint-imports
	@$(BIN)/mypy core enforcement streams obd_gateway fuel_vapor remote_sensing smoke_capture dashboards

format: $(STAMP) ## apply ruff formatting and safe fixes
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

bench: $(STAMP) ## run the benchmarks; one table of figures, anchors and ratios -> bench/results.md
	@PYTHONPATH=$(CURDIR) $(BIN)/python bench/run_all.py

check: $(STAMP) ## validate settings, rule set and registry
	@$(BIN)/emwatch check

clean: ## remove the environment and local data (var/)
	rm -rf $(VENV) var .pytest_cache .ruff_cache
