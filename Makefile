# The interface pipelines and people use. Every target creates the virtual
# environment it needs, so a fresh clone only needs Python 3.11 and make.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
ENV    ?= local
STATE  ?= .state/emulator

.PHONY: help venv test lint emulator emulator-env clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

$(VENV)/.installed: pyproject.toml runtime/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ./runtime -e '.[test]'
	touch $@

venv: $(VENV)/.installed  ## create the virtual environment

test: venv  ## run the whole test suite (what CI runs)
	$(PY) -m pytest -n 2 -q

lint: venv  ## ruff, and mypy --strict on the runtime package
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict runtime/orgsecrets

emulator: venv  ## run the local Azure emulator in the foreground
	$(PY) -m emulator serve --state-dir $(STATE)

emulator-env: venv  ## print the environment to act as IDENTITY (default app) against the running emulator
	@$(PY) -m emulator env --state-dir $(STATE) --identity $(or $(IDENTITY),app)

clean:  ## remove the virtual environment and emulator state
	rm -rf $(VENV) .state
