# One virtual environment in .venv, made and filled on first use by every target that needs it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The ray extra (the Ray indexing engine), installed for the tests and type checks only: `make run`
# does not need it and stays quick.
RAY_STAMP := $(VENV)/.installed-ray
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-fast bench lint typecheck clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(RAY_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e ".[dev,ray]"
	touch $(RAY_STAMP)

# Main job: the offline demo. Uses the product's default model when its weights are in models/,
# otherwise the demo model shipped with snapbuy; generates the demo shop, indexes it, serves the API on
# $(HOST):$(PORT) and evaluates in the background (`snapbuy demo --train` trains the model here).
run: $(STAMP)
	$(PY) -m snapbuy demo --host $(HOST) --port $(PORT)

# The README's test command (and CI's): style and types first, then the test suite.
test: lint typecheck $(RAY_STAMP)
	$(PY) -m pytest -q

# Quick iteration: the tests not marked slow (no subprocess servers, no whole demo or benchmark runs,
# no real ViT-B-32). `make test` runs them all.
test-fast: $(RAY_STAMP)
	$(PY) -m pytest -q -m "not slow"

# Benchmarks: every suite in SUITES; BENCH=--quick for the few-minute versions; results in bench-results/.
SUITES ?= search embed api query ingest quality
bench: $(STAMP)
	set -e; for suite in $(SUITES); do $(PY) -m snapbuy bench $$suite $(BENCH); done

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/lint-imports

typecheck: $(RAY_STAMP)
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .grimp_cache
