# The two commands a newcomer needs: `make run` and `make test`. Everything installs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAMVENV := .venv-sam
PY := $(VENV)/bin/python
export AWS_DEFAULT_REGION ?= eu-north-1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help venv sam-tools verifier rotate-credential-key run test test-unit lint format bench soak build validate migrate openapi schema clean

help:
	@echo "make run       start the embedded PostgreSQL, migrate, load demo data, serve the local API"
	@echo "make test      the whole test suite (embedded PostgreSQL, or DATABASE_URL)"
	@echo "make lint      ruff + mypy"
	@echo "make bench     benchmarks against same-run baselines (bench/results.json)"
	@echo "make build     sam build;  make validate: sam validate --lint + cfn-lint serverless rules"

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(SAMVENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	@touch $@

venv: $(VENV)/.installed

# The independent Open Badges verifier the tests run (Digital Bazaar's VC libraries, pinned by the lock).
VERIFIER := tests/verifier
$(VERIFIER)/node_modules/.installed: $(VERIFIER)/package.json $(VERIFIER)/package-lock.json
	npm ci --prefix $(VERIFIER) --no-audit --no-fund --loglevel=error
	@touch $@

verifier: $(VERIFIER)/node_modules/.installed

sam-tools: $(SAMVENV)/.installed

run: venv
	$(PY) -m localdev.run

test: venv sam-tools verifier
	$(VENV)/bin/pytest

test-unit: venv verifier
	$(VENV)/bin/pytest tests/unit

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: venv
	PYTHONPATH=layers/common $(PY) -m peer_badges.migrations --dir sql

# sql/current/schema.sql: the schema after every migration, for reading (checked by the tests).
schema: venv
	PYTHONPATH=layers/common $(PY) -m localdev.schema --write

# Local Open Badges signing keys: a new current key; the old ones stay listed (docs/credentials.md).
rotate-credential-key: venv
	PYTHONPATH=layers/common $(PY) -m peer_badges.keys rotate $${LOCALDEV_DIR:-.localdev}/credential-keys.json

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache

# The build Makefiles run `python3 -m pip`; the tools' venv first on PATH guarantees one with pip.
SAM_PATH := PATH="$(CURDIR)/$(SAMVENV)/bin:$$PATH"

build: sam-tools
	$(SAM_PATH) $(SAMVENV)/bin/sam build

# `sam validate` runs the SAM translator; `--lint` runs cfn-lint instead of it, not as well.
validate: sam-tools
	$(SAMVENV)/bin/sam validate
	$(SAMVENV)/bin/sam validate --lint
	$(SAMVENV)/bin/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules

# Benchmarks against baselines measured in the same run (bench/README.md). BENCH_ARGS=--quick for a
# ~30 s smoke run; sizes and DATABASE_URL as described there.
bench: venv
	$(PY) -m bench $(BENCH_ARGS)

# Load run on 127.0.0.1 (~60 s; SOAK_ARGS="--seconds 300 --rate 80", DATABASE_URL for another server),
# then the invariants: nothing missing on reconcile, no duplicate award, one event per award. Not in `make test`.
soak: venv
	$(PY) -m tests.soak.run $(SOAK_ARGS)
