# Bosun: `make run` brings up the local stack and the services; `make test` runs every test.
SHELL := /bin/bash
PY_VERSION ?= 3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed

.PHONY: setup kube run test test-unit test-integration lint bench clean

$(STAMP): pyproject.toml requirements.lock
	@command -v python$(PY_VERSION) >/dev/null || { echo "python$(PY_VERSION) is required"; exit 1; }
	@[ -x $(PY) ] || python$(PY_VERSION) -m venv $(VENV)
	@[ -x $(UV) ] || $(PY) -m pip install -q uv
	$(UV) pip install -q -p $(PY) -r requirements.lock
	$(UV) pip install -q -p $(PY) --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP) ## the virtualenv with every dependency, and the bosun command

kube: ## build (once, cached) the local control plane binaries
	@hack/build-kube.sh

run: setup kube ## NATS, the local control plane, all services, and a demo
	$(VENV)/bin/bosun up --demo

test: setup kube ## every test: unit, then integration against real processes
	$(PY) -m pytest -q -p no:cacheprovider tests

test-unit: setup
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

test-integration: setup kube
	$(PY) -m pytest -q -p no:cacheprovider tests/integration

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: setup kube ## benchmarks with fixed seeds; see BENCHMARKS.md
	$(PY) -m benchmarks

lock: ## re-resolve requirements.lock after editing pyproject.toml
	$(UV) pip compile -q pyproject.toml --extra dev -p $(PY_VERSION) -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
