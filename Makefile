# The two commands: `make run` (or `make demo`) and `make test`. Everything else is detail.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test lint typecheck services bench install clean reliability

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/omnirelay serve

demo: install
	$(BIN)/omnirelay serve --demo

services:
	bash scripts/ensure-services.sh

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

test: install services lint typecheck
	$(BIN)/pytest

bench: install
	bash benchmarks/run.sh

# The fault matrix on both backends (PostgreSQL with two nodes too), the billing audits, and
# the rest of the reliability tests; make test runs all but the PostgreSQL matrix.
reliability: install services
	$(BIN)/pytest -m "" tests/test_fault_matrix.py tests/test_billing_audit.py \
		tests/test_channel_health.py tests/test_shutdown.py tests/test_nodes.py \
		tests/test_webhook_outbox.py tests/test_health.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
