# PromptWorks developer entry points: `make help` lists them.
# Local infrastructure (PostgreSQL + Kafka, no Docker) is deploy/local/infra.sh; see its header.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

INFRA := bash deploy/local/infra.sh

.PHONY: help install infra-up infra-down infra-status infra-env infra-reset dev services-up \
	demo down test lint schemas bench

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'

install: ## Install PostgreSQL, the Kafka jars and the Python workspace
	$(INFRA) install
	uv sync --frozen --all-packages

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
	uv run python -m devstack up

demo: ## Create a prompt and a mock run through query-api; print its metrics
	uv run python -m devstack demo

down: ## Stop everything `make dev` started
	uv run --frozen python -m devstack down || true
	$(INFRA) down

test: ## Run every test on real Kafka + PostgreSQL (starts a throwaway test stack)
	uv run --frozen pytest

lint: ## ruff, formatting and mypy --strict on the sources
	uv run ruff check .
	uv run ruff format --check .
	uv run mypy contracts/src libs/eventkit/src services/*/src

schemas: ## Regenerate the committed JSON Schemas and AsyncAPI document from the contracts
	uv run python -m promptworks_contracts.schemagen

bench: ## End-to-end benchmark: 10,000 cases on the mock model
	uv run python -m bench.e2e_run --cases 10000
