# The interface pipelines and people use. Every target creates the virtual
# environment it needs, so a fresh clone only needs Python 3.11 and make.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
KVP     = $(VENV)/bin/keyvault-platform
ENV    ?= local
STATE  ?= .state/emulator

.PHONY: help venv test test-unit lint validate emulator emulator-env plan provision sync-plan sync demo bench soak clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

$(VENV)/.installed: pyproject.toml runtime/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ./runtime -e '.[test]'
	touch $@

venv: $(VENV)/.installed  ## create the virtual environment

test: venv  ## run the whole test suite (what CI runs)
	$(PY) -m pytest -n 2 -q -m "not slow"

test-unit: venv  ## the fast tier: pure logic, no emulator, no child process (seconds)
	KVP_TEST_TIER=unit $(PY) -m pytest -q -m "not integration and not slow" -p no:cacheprovider

lint: venv  ## ruff; mypy --strict on the runtime package, the tooling, the emulator and the demo
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict runtime/orgsecrets
	$(VENV)/bin/mypy --strict infra/keyvault_platform emulator scripts

emulator: venv  ## run the local Azure emulator in the foreground
	$(KVP) emulator --state-dir $(STATE) serve

emulator-env: venv  ## print the environment to act as IDENTITY (default app) against the running emulator
	@$(KVP) emulator --state-dir $(STATE) env --identity $(or $(IDENTITY),app)

validate: venv  ## check every environment file and manifest offline (no credentials, no network)
	$(KVP) validate $(ARGS)

plan: venv  ## show what provisioning ENV would change (pipelines: keyvault-platform provision --plan for exit code 2)
	@$(KVP) provision --env $(ENV) --state-dir $(STATE) --plan $(ARGS) || [ $$? -eq 2 ]

provision: venv  ## plan, apply and verify the vault and role assignments of ENV
	$(KVP) provision --env $(ENV) --state-dir $(STATE) $(ARGS)

sync-plan: venv  ## show what syncing the manifests in secrets/ into ENV's vault would change
	@$(KVP) sync --env $(ENV) --state-dir $(STATE) --plan $(ARGS) || [ $$? -eq 2 ]

sync: venv  ## make ENV's vault match the manifests in secrets/
	$(KVP) sync --env $(ENV) --state-dir $(STATE) $(ARGS)

demo: venv  ## the whole system on the local emulator: provision, sync, an app reading secrets
	$(PY) -m scripts.demo $(ARGS)

bench: venv  ## benchmarks: print figures, never pass or fail on time
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

soak: venv  ## the long reliability runs (full counts), beyond what CI runs
	$(PY) -m pytest -q -m slow

clean:  ## remove the virtual environment and emulator state
	rm -rf $(VENV) .state
