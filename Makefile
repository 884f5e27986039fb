# Signpost: two commands do all set-up on a fresh machine.
#   make run    start the broker and every service in the foreground (Ctrl-C stops all)
#   make test   run the test suite (unit + integration against a real broker and database)
# Both create .venv and install the locked dependencies on first use.

PYTHON  ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
WEB     := services/web
# The pages' GOV.UK Design System assets (npm, pinned by package-lock.json), installed on first use
ASSETS  := $(WEB)/node_modules/.installed

.PHONY: run test unit bench lint schemas lock clean help assets

help:
	@echo "make run    - start Signpost (embedded broker + intake, alerts, referrals, the web pages and a dev sign-in provider)"
	@echo "make test   - run the whole test suite"
	@echo "make unit   - run only the unit tests (no broker, no database server)"
	@echo "make bench  - run the benchmarks (figures beside a baseline from the same run)"
	@echo "make schemas- regenerate docs/schemas (JSON Schema, AsyncAPI) from schemas/"
	@echo "make lint   - ruff (annotation rules included), mypy (strict on schemas/ and domain/), import-linter"

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

$(ASSETS): $(WEB)/package.json $(WEB)/package-lock.json
	./scripts/node-deps.sh
	npm ci --prefix $(WEB) --no-audit --no-fund --loglevel=error
	touch $(ASSETS)

assets: $(ASSETS)

run: $(STAMP) $(ASSETS)
	$(BIN)/python -m services.run

# Two workers (pytest-xdist), a test file per worker at a time: the end-to-end tests mostly wait on
# the system they start, so the suite takes about half as long on 2 cores.
test: $(STAMP) $(ASSETS)
	./scripts/system-deps.sh
	$(BIN)/python -m pytest -n 2 --dist loadfile

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

bench: $(STAMP)
	$(BIN)/python -m bench

schemas: $(STAMP)
	$(BIN)/python -m schemas.generate

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements.prod.lock

clean:
	rm -rf $(VENV) var .pytest_cache $(WEB)/node_modules
