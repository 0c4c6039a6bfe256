# PromptWorks developer entry points: `make help` lists them.
# Local infrastructure (PostgreSQL + Kafka, no Docker) is deploy/local/infra.sh; see its header.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

INFRA := bash deploy/local/infra.sh
# uv drives the Python workspace. On a fresh machine `make install` puts it in with pip, where
# it may not be on PATH yet: `python3 -m uv` finds it either way. It must use this machine's
# Python (no downloads here).
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
export UV_PYTHON_DOWNLOADS := never
# kustomize renders deploy/k8s in tests/deploy (offline validation of the manifests). Built once
# from the Go module proxy into .cache/bin (the marker file names the version it was built at).
GO := $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
KUSTOMIZE_VERSION := v5.5.0
KUSTOMIZE_STAMP := .cache/bin/kustomize.$(KUSTOMIZE_VERSION)
# The Compose Specification's JSON schema, as the npm package dclint ships it, for the test that
# validates docker-compose.yml (tests/deploy/test_observability.py; no Docker engine needed).
DCLINT_VERSION := 3.1.0
COMPOSE_SCHEMA_STAMP := .cache/compose-spec/dclint.$(DCLINT_VERSION)

.PHONY: help install infra-up infra-down infra-status infra-env infra-reset dev services-up \
	demo down test lint schemas client screenshots bench

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'

install: $(KUSTOMIZE_STAMP) $(COMPOSE_SCHEMA_STAMP) ## Install uv, PostgreSQL, the Kafka jars, Node.js, Chromium, kustomize, the Compose schema, the Python workspace, the npm tools and the web console's build (fast when present)
	$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv \
		|| python3 -m pip install --quiet --break-system-packages uv
	$(INFRA) install
	$(UV) sync --frozen --all-packages --quiet --compile-bytecode
	@# Byte-compiled once here: every service process (tests start hundreds) then imports
	@# without compiling, also where PYTHONDONTWRITEBYTECODE keeps Python from caching.
	$(UV) run --frozen python -m compileall -q contracts/src libs/eventkit/src services/*/src devstack clients/cli/src >/dev/null
	@# The npm tools (clients/typescript): exactly the lockfile, no install scripts; skipped when
	@# node_modules was installed from this very lockfile (a copy of it there is the stamp).
	@cd clients/typescript && if ! cmp -s package-lock.json node_modules/.package-lock.json.src; then \
		npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
		&& cp package-lock.json node_modules/.package-lock.json.src; fi
	@# The web console (web/): its npm packages the same way, then its build, redone only when
	@# a source, the lockfile or the generated client changed (query-api serves web/dist at /).
	@cd web && if ! cmp -s package-lock.json node_modules/.package-lock.json.src; then \
		npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
		&& cp package-lock.json node_modules/.package-lock.json.src; fi
	@$(MAKE) --no-print-directory web/dist/index.html

WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts \
	web/package-lock.json clients/typescript/src/index.ts clients/typescript/src/schema.d.ts

web/dist/index.html: $(WEB_SOURCES)
	cd web && node_modules/.bin/vite build --logLevel warn

$(KUSTOMIZE_STAMP):
	GOBIN=$(CURDIR)/.cache/bin GOFLAGS=-modcacherw $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	touch $@

$(COMPOSE_SCHEMA_STAMP):
	rm -rf .cache/compose-spec && mkdir -p .cache/compose-spec
	cd .cache/compose-spec && npm pack --silent dclint@$(DCLINT_VERSION) >/dev/null \
		&& tar -xzf dclint-$(DCLINT_VERSION).tgz package/schemas/compose.schema.json \
		&& mv package/schemas/compose.schema.json . && rm -rf package dclint-$(DCLINT_VERSION).tgz
	touch $@

infra-up: ## Start local PostgreSQL + Kafka (durable settings) and create the databases
	env -u PROMPTWORKS_PG_FAST $(INFRA) up

infra-down: ## Stop local PostgreSQL + Kafka
	$(INFRA) down

infra-status: ## Show whether local PostgreSQL and Kafka are up
	$(INFRA) status

infra-env: ## Print export lines for the local stack: eval "$(make -s infra-env)"
	@$(INFRA) env

infra-reset: ## Stop local PostgreSQL + Kafka and delete their data
	$(INFRA) reset

dev: install infra-up services-up demo ## Bring up everything locally and run the demo

services-up: ## Migrate, create topics, start the four services and wait until ready
	$(UV) run --frozen python -m devstack up

demo: ## Create a prompt and a mock run through query-api; print its metrics
	$(UV) run --frozen python -m devstack demo

down: ## Stop everything `make dev` started
	$(UV) run --frozen python -m devstack down || true
	$(INFRA) down

# Tests mostly wait (on Kafka, PostgreSQL, service processes), so three workers share two cores
# well. Whole files go to one worker: a module's stack of service processes starts once.
TEST_WORKERS ?= 3

test: install ## Run every test on real Kafka + PostgreSQL (starts a throwaway test stack)
	$(UV) run --frozen pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

lint: install ## ruff, formatting, mypy --strict, the dependency rules (import-linter), tsc on the TS client and the web console
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy contracts/src libs/eventkit/src services/*/src devstack clients/cli/src
	$(UV) run --frozen lint-imports --no-cache
	$(UV) run --frozen pytest -q -p no:cacheprovider tests/architecture
	cd clients/typescript && node_modules/.bin/tsc --noEmit -p .
	cd web && node_modules/.bin/tsc --noEmit -p .

schemas: ## Regenerate the committed JSON Schemas and AsyncAPI document from the contracts
	$(UV) run python -m promptworks_contracts.schemagen

screenshots: ## Refresh docs/screenshots/ from the browser test (a throwaway test stack, as `make test`)
	PROMPTWORKS_SCREENSHOTS=$(CURDIR)/docs/screenshots $(UV) run --frozen pytest -q -p no:cacheprovider tests/e2e/test_web_console.py -k whole_job

client: ## Regenerate the TypeScript client's types from query-api's OpenAPI document
	$(UV) run --frozen python -m query_api.openapi_export clients/typescript/openapi.json
	cd clients/typescript && npm run --silent generate

bench: ## End-to-end benchmark: 10,000 cases on the mock model
	$(UV) run python -m bench.e2e_run --cases 10000
