# The two commands a newcomer needs: `make run` and `make test`. Settings come from the environment only.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test bench openapi clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(PY) -m app migrate
	$(PY) -m app demo
	$(PY) -m app serve

test: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

bench: $(VENV)/.installed
	$(PY) bench/run_all.py

openapi: $(VENV)/.installed
	$(PY) -m app.openapi_export > openapi/openapi.json

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
