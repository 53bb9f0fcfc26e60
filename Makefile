# The interface pipelines and people use. Every target creates the virtual
# environment it needs, so a fresh clone only needs Python 3.11 and make.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
KVP     = $(VENV)/bin/keyvault-platform
# KVP_ENV, not ENV: POSIX shells read $ENV at start-up, and pipelines set
# variables of their own. STATE (the emulator's state directory) is passed
# only when given: otherwise the environment file's target.state_dir holds.
KVP_ENV ?= local
STATE   ?=
STATE_OPTION   = $(if $(STATE),--state-dir $(STATE))
EMULATOR_STATE = $(or $(STATE),.state/emulator)

.PHONY: help venv lock audit test-runtime test test-network test-unit lint validate emulator emulator-env plan provision sync-plan sync demo bench soak interop clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

# Installs are the lock's, hash for hash (docs/installs.md): everything from
# requirements/dev.txt with --require-hashes (pip and the build backend too),
# then the three local packages with --no-deps and that backend. --clear: a
# rebuilt venv holds exactly the lock, nothing left from an older one.
LOCK         ?= requirements/dev.txt
RUNTIME_LOCK ?= requirements/runtime-tests.txt
RUNTIME_VENV ?= .state/venv-runtime
PIP_LOCKED    = -m pip install --quiet --require-hashes --only-binary :all: -r
PIP_LOCAL     = -m pip install --quiet --no-deps --no-build-isolation

$(VENV)/.installed: $(LOCK) pyproject.toml runtime/pyproject.toml keyvault-emulator/pyproject.toml
	$(PYTHON) -m venv --clear $(VENV)
	$(PY) $(PIP_LOCKED) $(LOCK)
	$(PY) $(PIP_LOCAL) -e ./runtime -e ./keyvault-emulator -e .
	touch $@

venv: $(VENV)/.installed  ## create the virtual environment (exactly requirements/dev.txt)

lock: venv  ## refresh the locks from pyproject.toml (newest allowed versions) and print what changed
	$(PY) -m tools.locks $(ARGS)

audit: venv  ## check the locked versions against known vulnerabilities (accepted ones: requirements/audit-accepted.toml)
	$(PY) -m tools.audit $(ARGS)

$(RUNTIME_VENV)/.installed: $(RUNTIME_LOCK) runtime/pyproject.toml
	$(PYTHON) -m venv --clear $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/python $(PIP_LOCKED) $(RUNTIME_LOCK)
	$(RUNTIME_VENV)/bin/python $(PIP_LOCAL) -e ./runtime
	touch $@

test-runtime: $(RUNTIME_VENV)/.installed  ## the runtime's tests alone, at the lowest versions its bounds allow
	PYTHONPATH=.:keyvault-emulator $(RUNTIME_VENV)/bin/python -m pytest -n 2 -q -m "not slow" -p no:cacheprovider tests/runtime

test: venv  ## run the whole test suite (what CI runs)
	$(PY) -m pytest -n 2 -q -m "not slow and not network"

test-network: venv  ## the tests that need more than the package index (PyPI's advisory data)
	$(PY) -m pytest -q -m network -p no:cacheprovider

test-unit: venv  ## the fast tier: pure logic, no emulator, no child process (seconds)
	KVP_TEST_TIER=unit $(PY) -m pytest -q -m "not integration and not slow" -p no:cacheprovider

lint: venv  ## ruff; mypy --strict on the runtime package, the tooling, the emulator and the demo
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict runtime/orgsecrets
	$(VENV)/bin/mypy --strict infra/keyvault_platform keyvault-emulator/keyvault_emulator scripts tools

emulator: venv  ## run the local Azure emulator in the foreground
	$(KVP) emulator --state-dir $(EMULATOR_STATE) serve

emulator-env: venv  ## print the environment to act as IDENTITY (default app) against the running emulator
	@$(KVP) emulator --state-dir $(EMULATOR_STATE) env --identity $(or $(IDENTITY),app)

validate: venv  ## check every environment file and manifest offline (no credentials, no network)
	$(KVP) validate $(ARGS)

plan: venv  ## show what provisioning KVP_ENV would change (pipelines: keyvault-platform provision --plan for exit code 2)
	@$(KVP) provision --env $(KVP_ENV) $(STATE_OPTION) --plan $(ARGS) || [ $$? -eq 2 ]

provision: venv  ## plan, apply and verify the vault and role assignments of KVP_ENV
	$(KVP) provision --env $(KVP_ENV) $(STATE_OPTION) $(ARGS)

sync-plan: venv  ## show what syncing the manifests in secrets/ into KVP_ENV's vault would change
	@$(KVP) sync --env $(KVP_ENV) $(STATE_OPTION) --plan $(ARGS) || [ $$? -eq 2 ]

sync: venv  ## make KVP_ENV's vault match the manifests in secrets/
	$(KVP) sync --env $(KVP_ENV) $(STATE_OPTION) $(ARGS)

demo: venv  ## the whole system on the local emulator: provision, sync, an app reading secrets
	$(PY) -m scripts.demo $(ARGS)

bench: venv  ## benchmarks: print figures, never pass or fail on time
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

soak: venv  ## the long reliability runs (full counts), beyond what CI runs
	$(PY) -m pytest -q -m slow

# Clients nobody here wrote, against the emulator (outside `make test`): the
# Azure CLI in a venv of its own and the JavaScript SDK from npm, both cached
# under INTEROP_CACHE and fetched on first use (docs/emulator.md).
INTEROP_CACHE ?= $(HOME)/.cache/keyvault-platform/interop
INTEROP_AZ    ?= azure-cli==2.91.0
INTEROP_NPM   ?= @azure/keyvault-secrets@4.12.0 @azure/identity@4.14.1 @azure/arm-keyvault@5.0.0 \
                 @azure/arm-authorization@9.0.0 @azure/arm-resources@8.0.0
# One marker per pinned set ('=' and '@' kept out of file names), so a new pin reinstalls.
space := $(subst ,, )
INTEROP_AZ_MARK  = $(INTEROP_CACHE)/az/.installed-$(subst =,-,$(INTEROP_AZ))
INTEROP_NPM_MARK = $(INTEROP_CACHE)/npm/.installed-$(subst /,-,$(subst @,,$(subst $(space),+,$(strip $(INTEROP_NPM)))))

$(INTEROP_AZ_MARK):
	$(PYTHON) -m venv --clear $(INTEROP_CACHE)/az
	$(INTEROP_CACHE)/az/bin/python -m pip install --quiet '$(INTEROP_AZ)'
	touch '$@'

$(INTEROP_NPM_MARK):
	mkdir -p $(INTEROP_CACHE)/npm
	npm install --silent --no-audit --no-fund --prefix $(INTEROP_CACHE)/npm $(INTEROP_NPM)
	touch '$@'

interop: venv $(INTEROP_AZ_MARK) $(INTEROP_NPM_MARK)  ## the Azure CLI and the JavaScript SDK against the emulator (one line per check)
	$(PY) interop/run.py --az $(INTEROP_CACHE)/az/bin/az --node-modules $(INTEROP_CACHE)/npm/node_modules

clean:  ## remove the virtual environment and emulator state
	rm -rf $(VENV) .state
