# One virtual environment in .venv, made and filled on first use by every target that needs it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
INDEX ?= indexes/sample
CATALOG ?= tests/data/sample-catalog/catalog.csv
DEFAULT_WEIGHTS := models/ViT-B-32_laion2b_s34b_b79k.safetensors

.PHONY: install run test lint typecheck clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Main job: index the sample catalog and serve the API. Uses the product's default model when its
# weights are in models/; otherwise ViT-B-32 with random weights, which is said loudly: random weights
# exercise the whole path but do not find truly similar products.
run: $(STAMP)
	@if [ -n "$(MODEL)" ]; then model="$(MODEL)"; reason="set by MODEL="; \
	elif [ -f "$(DEFAULT_WEIGHTS)" ]; then model="ViT-B-32:laion2b_s34b_b79k"; reason="weights found in models/"; \
	else model="ViT-B-32:random"; reason="no pretrained weights in models/ (see models/README.md): RANDOM WEIGHTS, results show the mechanics only"; fi; \
	echo "snapbuy: model $$model ($$reason)"; \
	$(PY) -m snapbuy index $(CATALOG) --index $(INDEX) --model "$$model" && \
	$(PY) -m snapbuy serve --index $(INDEX) --host $(HOST) --port $(PORT)

# The README's test command (and CI's): style and types first, then the test suite.
test: lint typecheck
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
