# The README's commands. `make run` and `make test` set everything up themselves.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
VENDOR := src/civicgrid/web/static/vendor
DB_FILE := var/civicgrid.db
export CIVICGRID_DATABASE_URL ?= sqlite:///$(CURDIR)/$(DB_FILE)

.PHONY: run test setup vendor demo lint typecheck bench messages clean

run: setup
	@mkdir -p var
	@if [ ! -f $(DB_FILE) ]; then $(BIN)/civicgrid demo; \
	else echo "Using the existing demo city in $(DB_FILE) (delete it, or run 'make demo', for a new one)."; fi
	$(BIN)/civicgrid serve --port 8000

test: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

demo: setup
	@mkdir -p var
	$(BIN)/civicgrid demo --reset

bench: setup
	$(BIN)/python bench/locate.py

# Each domain's translations, compiled from its .po (core.i18n reads the .po where no .mo is).
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard src/civicgrid/*/locale/*/LC_MESSAGES/*.po))

setup: $(VENV)/.installed $(VENDOR)/.installed $(CATALOGUES)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	@touch $@

%.mo: %.po | $(VENV)/.installed
	$(BIN)/pybabel --quiet compile --input-file $< --output-file $@

# Browser libraries come from npm at setup time and are copied into the package; never committed.
$(VENDOR)/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/leaflet $(VENDOR)/htmx
	cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css $(VENDOR)/leaflet/
	cp -r node_modules/leaflet/dist/images $(VENDOR)/leaflet/
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx/
	@touch $@

# Every message key the code and the templates use, to var/messages.pot (babel.cfg and
# pyproject.toml's [tool.babel.extract_messages]); tests/unit/test_i18n.py checks the same keys.
messages: setup
	@mkdir -p var
	$(BIN)/pybabel --quiet extract

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

clean:
	rm -rf $(VENV) node_modules $(VENDOR) var
