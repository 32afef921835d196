# The two commands: `make run` (or `make demo`) and `make test`. Everything else is detail.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test lint typecheck services bench install clean fuzz bench-observability

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

# The long fuzz run (issue 14): schemathesis with many more cases per operation, hypothesis
# with its "fuzz" profile; `make test` runs the same tests, bounded. Figures: fuzz-report.json.
fuzz: install services
	OMNIRELAY_FUZZ_EXAMPLES=$${OMNIRELAY_FUZZ_EXAMPLES:-150} HYPOTHESIS_PROFILE=fuzz \
	OMNIRELAY_FUZZ_REPORT=$${OMNIRELAY_FUZZ_REPORT:-$(CURDIR)/fuzz-report.json} \
	$(BIN)/pytest -p no:cacheprovider -o timeout=3600 tests/fuzz \
	  tests/formats/test_translation_properties.py tests/formats/test_robustness_properties.py

# What metrics and access logs cost the hot path, before (main) and after: benchmarks/results/.
bench-observability: install
	bash benchmarks/observability.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
