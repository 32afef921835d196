# The two commands: `make run` (or `make demo`) and `make test`. Everything else is detail.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test lint typecheck services bench install clean docs

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

test: install services lint typecheck
	$(BIN)/pytest

bench: install
	bash benchmarks/run.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache src/omnirelay/docs_site
