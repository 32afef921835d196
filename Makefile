# The two commands: `make run` (or `make demo`) and `make test`. Everything else is detail.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test lint typecheck services bench install clean docs reliability fuzz bench-observability bench-stacks bench-peers

# The user documentation (served at /docs/): rebuilt when a page, a sample or the code its
# tables are generated from changed.
SITE := src/omnirelay/docs_site/index.html
DOCS_SOURCES := mkdocs.yml $(shell find docs src/omnirelay -path src/omnirelay/docs_site -prune \
	-o -type f \( -name '*.md' -o -name '*.py' -o -name '*.sh' -o -name '*.toml' -o -name '*.json' \) -print)

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install $(SITE)
	$(BIN)/omnirelay serve

demo: install $(SITE)
	$(BIN)/omnirelay serve --demo

docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	touch $(SITE)

# For `make run`: a page that does not build must not keep the gateway from starting
# (`make docs` and `make test` are the strict ones).
$(SITE): $(STAMP) $(DOCS_SOURCES)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --quiet && touch $(SITE) \
		|| echo "the documentation did not build: /docs/ will say so (run make docs)"

services:
	bash scripts/ensure-services.sh

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

# Two workers, a test file each at a time (module fixtures stay in one process); the slowest
# tests are listed at the end, to keep an eye on the budget.
test: install services lint typecheck
	$(BIN)/pytest -n 2 --dist loadfile --durations=30

bench: install
	bash benchmarks/run.sh

# Bare pass-throughs on other stacks (granian RSGI, pyreqwest, uvicorn...) beside the aiohttp
# ceiling, on their own (make bench runs them too, as its "stacks" target).
bench-stacks: install
	bash benchmarks/stack_choice.sh

# Installs the peer gateways make bench compares with (npm, into .bench-peers/).
bench-peers:
	bash benchmarks/peers/install.sh

# The fault matrix on both backends (PostgreSQL with two nodes too), the billing audits, and
# the rest of the reliability tests; make test runs all but the PostgreSQL matrix.
reliability: install services
	$(BIN)/pytest -m "" tests/test_fault_matrix.py tests/test_billing_audit.py \
		tests/test_channel_health.py tests/test_shutdown.py tests/test_nodes.py \
		tests/test_webhook_outbox.py tests/test_health.py

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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache src/omnirelay/docs_site
