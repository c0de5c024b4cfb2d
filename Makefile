# Sésame: the two set-up commands are `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export UV_PYTHON_DOWNLOADS := never
PYTEST_WORKERS ?= 2
# The real FEC samples of DOMAIN.md (never copied into the project): beside it, or where this
# workplace keeps them; the demo's « Société Exemple » and the tests read them (ADR 0027).
SESAME_FEC_SAMPLES ?= $(firstword $(wildcard $(CURDIR)/../shared/data/fec /work/shared/data/fec))
export SESAME_FEC_SAMPLES

.PHONY: install run test test-sqlite test-postgres lint format bench browser-deps e2e-deps translations translations-update clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv resolves and installs in ~3 s where pip takes ~30 s (ENVIRONMENT.md); pip is the fallback.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check uv || true
	if [ -x $(BIN)/uv ]; then \
	  $(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt -e '.[dev]'; \
	else \
	  $(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'; \
	fi
	touch $(STAMP)

install: $(STAMP) translations

translations: $(STAMP)
	$(BIN)/pybabel compile -f -d idp/translations
	$(BIN)/pybabel compile -f -d client_portal_rp/translations

# After adding French strings: re-extract (idp/ and client_portal_rp/, never .venv) and merge
# into each English catalog, then translate the new empty msgstr; tests/idp/test_i18n.py fails until you do.
translations-update: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 \
	  --project=Sesame -o idp/translations/messages.pot idp
	$(BIN)/pybabel update -i idp/translations/messages.pot -d idp/translations --no-fuzzy-matching
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 \
	  --project=Sesame -o client_portal_rp/translations/messages.pot client_portal_rp
	$(BIN)/pybabel update -i client_portal_rp/translations/messages.pot \
	  -d client_portal_rp/translations --no-fuzzy-matching

# Headless Chromium for the browser tests (Debian's package; Playwright cannot download one here).
browser-deps:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Chromium (Debian package) for the browser tests..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null; \
	else \
	  echo "Chromium not installed and cannot be installed here: browser tests will be skipped."; \
	fi

# panva's openid-client for the end-to-end test (tests/e2e/): npm ci from the pinned lock file.
E2E_DIR := tests/e2e/openid_client
E2E_STAMP := $(E2E_DIR)/node_modules/.package-lock.json

$(E2E_STAMP): $(E2E_DIR)/package.json $(E2E_DIR)/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd $(E2E_DIR) && npm ci --no-audit --no-fund --loglevel=error; \
	else \
	  echo "npm not installed: the openid-client end-to-end test will be skipped."; \
	fi

e2e-deps: $(E2E_STAMP)

run: install
	$(BIN)/python -m devserver

# SQLite always; then PostgreSQL + Redis when TEST_DATABASE_URL is set (CI sets it).
test: install browser-deps e2e-deps test-sqlite test-postgres

test-sqlite: install
	env -u TEST_DATABASE_URL -u REDIS_URL $(BIN)/pytest -n $(PYTEST_WORKERS) -m "not redis and not postgres"

test-postgres: install
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== PostgreSQL ($$TEST_DATABASE_URL) + Redis ($${REDIS_URL:-unset}) =="; \
	  $(BIN)/pytest -n $(PYTEST_WORKERS); \
	else \
	  echo "TEST_DATABASE_URL not set: PostgreSQL run skipped (CI sets it)."; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/login.py
	$(BIN)/python bench/registry_import.py
	$(BIN)/python bench/autocomplete.py
	$(BIN)/python bench/oidc_endpoints.py
	$(BIN)/python bench/mfa.py

clean:
	rm -rf $(VENV) instance .mypy_cache .ruff_cache .pytest_cache $(E2E_DIR)/node_modules
