# The two commands: `make run` (or `make demo`) and `make test`. Everything else is detail.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test lint typecheck services bench install clean

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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
