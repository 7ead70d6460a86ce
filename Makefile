# Spooled developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
UV_HOME := .dev/uv
UV := $(UV_HOME)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: help install proto proto-check lint test chaos browser-test run bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	@echo ">> bootstrapping uv $(UV_VERSION) into $(UV_HOME)"
	@python3 -m venv $(UV_HOME) && $(UV_HOME)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock $(wildcard */*/pyproject.toml)
	@echo ">> installing the workspace into $(VENV)"
	@$(UV) sync --all-packages --frozen
	@touch $@

install: $(VENV)/.synced ## Create .venv with every service, lib and dev tool

proto: install ## Regenerate the gRPC stubs in libs/proto from proto/
	@PYTHON=$(PY) ./scripts/gen_proto.sh

proto-check: proto ## Fail when committed stubs differ from proto/
	@git diff --exit-code --stat -- libs/proto || { echo "stubs are stale: run 'make proto' and commit"; exit 1; }

lint: install ## Ruff and mypy
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy libs/common/src libs/testing/src services/*/src tools/bench/src tools/cli/src

run: install ## Start the whole suite (embedded Postgres + NATS unless DATABASE_URL/NATS_URL set)
	@$(PY) -m spooled_testing.stack run

test: install ## Unit, integration and e2e tests against real Postgres/NATS
	@echo ">> unit + integration tests (libs, services)"
	@$(PY) -m pytest libs services -q -p no:cacheprovider
	@echo ">> end-to-end tests (tests/e2e: the official SDK against the running suite)"
	@$(PY) -m pytest tests/e2e -q -p no:cacheprovider

chaos: install ## Fault, lease and soak tests (tests/chaos, ~8 min); fills the table in docs/reliability.md
	@echo ">> chaos tests (tests/chaos: faults, leases and a soak against the running suite; ~8 min)"
	@$(PY) -m pytest tests/chaos -q -p no:cacheprovider
	@$(PY) -m spooled_testing.reliability

browser-test: install ## The /dashboard console in headless Chromium (installs Debian's chromium if missing)
	@./scripts/install_browser.sh
	@$(PY) -m pytest tests/browser -q -p no:cacheprovider

bench: install ## Benchmarks through the public API (prints a table; not part of test)
	@$(PY) -m spooled_bench $(ARGS)

clean: ## Remove .venv and .dev (all local data)
	rm -rf $(VENV) .dev

.PHONY: deploy-check
deploy-check: install ## Helm chart, Kustomize overlays, dashboards, alert rules and Dockerfile checks
	@./scripts/deploy_tools.sh
	@UV=$(abspath $(UV)) $(PY) -m pytest tests/deploy -q -p no:cacheprovider
