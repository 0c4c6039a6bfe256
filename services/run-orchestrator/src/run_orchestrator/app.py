"""run-orchestrator's composition root: one function wires every dependency."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.dead_letters_api import dead_letters_router
from promptworks_eventkit.http import install_edge
from promptworks_eventkit.runtime import Runtime, lifespan_for, ops_router
from promptworks_eventkit.service_credential import (
    document_service_credential,
    service_credential,
)
from promptworks_eventkit.settings import ServiceSettings
from promptworks_eventkit.writing.postgres import PostgresWritePort
from run_orchestrator.adapters.embedding_cache import PostgresEmbeddingCache
from run_orchestrator.adapters.evaluators import EvaluatorVersions
from run_orchestrator.adapters.locks import PostgresRunLocks
from run_orchestrator.adapters.postgres import PostgresRunRepository
from run_orchestrator.adapters.rate_limits import PostgresRateLimitStore
from run_orchestrator.adapters.resolver import SystemResolver
from run_orchestrator.adapters.secret_box import FernetBox
from run_orchestrator.api import completions as completions_api
from run_orchestrator.api import embeddings as embeddings_api
from run_orchestrator.api import providers as providers_api
from run_orchestrator.api import quick_tests as quick_tests_api
from run_orchestrator.api.routes import router
from run_orchestrator.domain.providers import CatalogRules
from run_orchestrator.execution.calls import ProviderCalls
from run_orchestrator.execution.completions import CompletionCalls
from run_orchestrator.execution.embeddings import EmbeddingCalls
from run_orchestrator.execution.limits import SharedRateLimiter
from run_orchestrator.execution.quick_tests import QuickTests
from run_orchestrator.execution.scheduler import Executor
from run_orchestrator.handlers.commands import RunCommands
from run_orchestrator.handlers.ports import RunRepository, StoredProvider
from run_orchestrator.handlers.prompt_versions import CONSUMER_NAME, prompt_versions_router
from run_orchestrator.handlers.providers import ProviderCommands
from run_orchestrator.providers.base import ModelProvider
from run_orchestrator.providers.catalog import CatalogProviders
from run_orchestrator.providers.registry import ProviderRegistry, pool_size_for, sdk_provider
from run_orchestrator.settings import ProviderConfig, RunOrchestratorSettings


def create_app(settings: ServiceSettings, with_relay: bool = True) -> FastAPI:
    if not isinstance(settings, RunOrchestratorSettings):
        raise TypeError("run-orchestrator needs RunOrchestratorSettings")
    runtime = Runtime.build(settings, with_relay=with_relay)
    port = PostgresWritePort[RunRepository](
        runtime.sessions, runtime.store, repos=PostgresRunRepository
    )
    runtime.add_consumer(CONSUMER_NAME, prompt_versions_router(), bind=port.joined)
    secret_key = settings.provider_secret_key
    box = FernetBox(secret_key.get_secret_value()) if secret_key else None

    async def load_catalog() -> list[StoredProvider]:
        async with port.transaction() as tx:
            return await tx.repos.list_providers()

    def catalog_provider(name: str, config: ProviderConfig) -> ModelProvider:
        return sdk_provider(name, config, pool_size_for(settings, config))

    catalog = CatalogProviders(
        load_catalog,
        catalog_provider,
        secrets_dir=settings.provider_secrets_dir,
        box=box,
        refresh_seconds=settings.catalog_refresh_seconds,
    )
    providers = ProviderRegistry(settings, catalog)
    dsn = asyncpg_dsn(settings.database_url.get_secret_value())
    locks = PostgresRunLocks(dsn)
    # Rate limits hold for all replicas together: their schedules live in the shared database.
    rate_store = PostgresRateLimitStore(dsn)
    limiter = SharedRateLimiter(rate_store)
    # One ProviderCalls per process: runs, quick tests and other services' calls (the judge)
    # share its breakers, concurrency gates and the shared schedule.
    calls = ProviderCalls(settings, limiter)
    executor = Executor(port, providers, locks, settings, calls)

    async def keep_catalog_fresh(spawner: Runtime) -> None:
        spawner.spawn("provider-catalog", catalog.keep_fresh)

    base = lifespan_for(runtime, extra=[keep_catalog_fresh, executor.start])
    token = settings.service_token.get_secret_value() if settings.service_token else None
    evaluator_versions = EvaluatorVersions(settings.evaluator_url, service_token=token)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Providers first: a bad provider configuration stops start-up before anything runs.
        await providers.start()
        await catalog.refresh()
        try:
            async with base(app):
                yield
        finally:
            # After the runtime stopped the executor.
            await limiter.aclose()
            await rate_store.aclose()
            await providers.aclose()
            await evaluator_versions.aclose()

    app = FastAPI(
        title="PromptWorks run-orchestrator",
        summary="Test runs: snapshot the prompt, call the models, record every result",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.providers = providers
    app.state.executor = executor
    app.state.evaluator_versions = evaluator_versions
    app.state.commands = RunCommands(
        port,
        providers,
        prompt_wait_seconds=settings.prompt_wait_seconds,
        on_run_created=executor.notify,
    )
    app.state.port = port
    app.state.quick_tests = QuickTests(
        port, providers, calls, prompt_wait_seconds=settings.prompt_wait_seconds
    )
    app.state.completion_calls = CompletionCalls(
        providers, calls, concurrency=settings.max_concurrency
    )
    app.state.embedding_calls = EmbeddingCalls(
        providers,
        calls,
        concurrency=settings.max_concurrency,
        cache=PostgresEmbeddingCache(runtime.sessions),
        cache_ttl_seconds=settings.embedding_cache_ttl_seconds,
    )
    app.state.provider_commands = ProviderCommands(
        port,
        SystemResolver(),
        box,
        CatalogRules(
            credential_env_pattern=settings.provider_credential_env_pattern,
            allow_private_urls=settings.allow_private_provider_urls,
            can_encrypt=box is not None,
        ),
        configured_names=settings.providers.keys(),
        on_change=catalog.changed,
    )
    install_edge(app, settings, auth=service_credential(settings))
    document_service_credential(app)
    app.include_router(router)
    app.include_router(providers_api.router)
    app.include_router(quick_tests_api.router)
    app.include_router(dead_letters_router(settings.service_name, runtime.dead_letters))
    app.include_router(completions_api.router)
    app.include_router(embeddings_api.router)
    app.include_router(ops_router(lambda: runtime))
    return app
