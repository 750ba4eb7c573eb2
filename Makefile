# The two commands a newcomer needs: `make run` and `make test`. Settings come from the environment only.
# Installs come from uv.lock (the versions the suite is tested with); `make lock` refreshes it after a change to
# the dependencies in pyproject.toml.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv

.PHONY: run test bench openapi lock messages screenshots clean

$(VENV)/.uv-$(UV_VERSION):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q uv==$(UV_VERSION)
	touch $@

# Makes .venv exactly the lock: the locked packages, the dev extra and the project (editable); anything else is
# removed, except the venv's own pip and uv. --locked fails when uv.lock no longer matches pyproject.toml
# (run `make lock`) instead of resolving afresh. --compile-bytecode: the packages' .pyc files are written once
# here, so no process (the test suite starts dozens) compiles them again from source, as it did under
# PYTHONDONTWRITEBYTECODE (`serve` took 3.1 s to answer instead of 1.1 s).
$(VENV)/.installed: pyproject.toml uv.lock $(VENV)/.uv-$(UV_VERSION)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --extra dev --compile-bytecode
	touch $@

# Refresh uv.lock after editing the dependencies: keeps every locked version that still fits.
# To move a package on: `.venv/bin/uv lock --upgrade-package NAME` (or --upgrade for all), then `make test`.
lock: $(VENV)/.uv-$(UV_VERSION)
	$(UV) lock

run: $(VENV)/.installed
	$(PY) -m app migrate
	$(PY) -m app demo
	$(PY) -m app serve --demo-brand

test: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

bench: $(VENV)/.installed
	$(PY) bench/run_all.py

openapi: $(VENV)/.installed
	$(PY) -m app.openapi_export > openapi/openapi.json

# PNGs of every cockpit screen in English and German under var/screenshots/ (needs /usr/bin/chromium).
screenshots: $(VENV)/.installed
	$(PY) -m tests.cockpit.screenshots

# Message catalogs (contract section 8): for each domain with app/<domain>/locales/, extract the messages of its
# templates and code (babel.cfg) into locales/messages.pot and merge them into every locales/<lang>/.../messages.po.
# Then translate the empty and fuzzy entries; tests/test_translations.py fails until every one is done.
# A new language: $(VENV)/bin/pybabel init -i app/<domain>/locales/messages.pot -d app/<domain>/locales -l fr
messages: $(VENV)/.installed
	for locales in app/*/locales; do \
		$(VENV)/bin/pybabel -q extract -F babel.cfg --sort-by-file -o $$locales/messages.pot $${locales%/locales} && \
		$(VENV)/bin/pybabel -q update -i $$locales/messages.pot -d $$locales --ignore-obsolete || exit 1; \
	done

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
