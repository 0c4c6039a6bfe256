"""query-api's composition root: one function wires every dependency.

query-api records no events (no relay); its one consumer projects every topic into the read
models, and its HTTP API serves those and forwards public writes to the command services.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware import Middleware

from promptworks_contracts.projects import PROJECT_HEADER
from promptworks_eventkit.fence import checkpoint_fence
from promptworks_eventkit.http import CORRELATION_HEADER, install_edge
from promptworks_eventkit.runtime import Runtime, lifespan_for, ops_router
from promptworks_eventkit.settings import ServiceSettings
from query_api import read_schema
from query_api.api import (
    admin,
    advice,
    api_keys,
    batches,
    classes,
    comparisons,
    evaluations,
    evaluators,
    exports,
    live,
    projects,
    prompt_writes,
    prompts,
    providers,
    quick_tests,
    render,
    runs,
    tags,
    usage,
)
from query_api.api.deps import API_PREFIX, NEXT_CURSOR_HEADER, TOTAL_COUNT_HEADER
from query_api.api.errors import install_render_error_handler
from query_api.api.hot_routes import HotRoutes
from query_api.api.ownership import Owners
from query_api.auth.key_cache import KeyCache
from query_api.auth.middleware import API_KEY_HEADER, ApiKeyAuth
from query_api.auth.openapi import document_api_keys, document_projects
from query_api.auth.projects import ProjectStore
from query_api.auth.ratelimit import RateLimiter
from query_api.auth.store import KeyStore
from query_api.forwarding import CommandForwarder, install_upstream_error_handler
from query_api.hot_reads import HotReads
from query_api.pages.cache import PageCache
from query_api.pages.listener import ChangeListener
from query_api.projections import CONSUMER_NAME, MAX_RECORDS, TRANSACTION_SETTINGS, build_router
from query_api.settings import QueryApiSettings
from query_api.web import install_console
from query_api.writes import ForwardedWrites


def create_app(settings: ServiceSettings, with_relay: bool = False) -> FastAPI:
    """``with_relay`` is accepted for the shared CLI and ignored: query-api emits no events."""
    if not isinstance(settings, QueryApiSettings):
        raise TypeError("query-api needs QueryApiSettings")
    runtime = Runtime.build(settings, with_relay=False)
    read_schema.use_schema(runtime.engine, read_schema.LIVE)
    runtime.add_consumer(
        CONSUMER_NAME,
        build_router(set_page_cost=False, announce_changes=True),
        max_records=MAX_RECORDS,
        # A rebuild's switch moves the checkpoints: each batch checks, under the switch's lock.
        fence=checkpoint_fence(read_schema.SWAP_FENCE_KEY),
        # Derived data, offsets beside it: a batch lost in a crash is projected again (ADR 0026).
        asynchronous_commit=True,
        transaction_settings=TRANSACTION_SETTINGS,  # set with the batch's bookkeeping
        # A run's results and their evaluations, on two topics, to one replica (ADR 0031).
        co_partitioned=True,
    )
    runtime_lifespan = lifespan_for(runtime)
    hot = HotReads(settings.database_url.get_secret_value(), settings.db_pool_size)
    pages = PageCache(settings.page_cache_bytes) if settings.page_cache_bytes else None
    listener = (
        ChangeListener(settings.database_url.get_secret_value(), pages)
        if pages is not None
        else None
    )
    service_token = settings.service_token.get_secret_value() if settings.service_token else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = httpx.Timeout(settings.command_timeout, connect=3.0)
        # trust_env=False: calls between services never go through a proxy from the env.
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            forwarder = CommandForwarder(client, service_token)
            app.state.writes = ForwardedWrites(
                forwarder, runtime.sessions, settings.read_your_writes_timeout
            )
            await hot.start()
            try:
                if listener is not None:
                    await listener.start()
                async with runtime_lifespan(app):
                    yield
            finally:
                if listener is not None:
                    await listener.close()
                await hot.close()

    app = FastAPI(
        title="PromptWorks API",
        summary="Prompts, their versions, labels, classes and tags, test runs and their results; "
        "the single public entry for frontends",
        version="1.0.0",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.hot_reads = hot
    app.state.page_cache = pages
    app.state.page_listener = listener
    app.state.settings = settings
    app.state.keys = KeyStore(
        runtime.sessions, settings.pepper(), KeyCache(settings.api_key_cache_seconds)
    )
    app.state.owners = Owners()
    app.state.projects = ProjectStore(runtime.sessions)
    limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    auth = Middleware(
        ApiKeyAuth,
        store_of=lambda: app.state.keys,
        limiter=limiter,
        bootstrap_key=settings.bootstrap_key(),
        projects_of=lambda: app.state.projects,
    )
    install_edge(app, settings, auth=auth)
    # Innermost, after the edge and the key's project: the hottest pages before FastAPI's routing.
    app.user_middleware.append(
        Middleware(HotRoutes, api=app, routers=(runs.router, prompts.router))
    )
    document_api_keys(app)
    document_projects(app)
    install_render_error_handler(app)
    install_upstream_error_handler(app)
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Content-Type",
                "If-Match",
                "If-None-Match",
                "X-Actor",
                "Last-Event-ID",
                "Authorization",
                API_KEY_HEADER,
                PROJECT_HEADER,
                CORRELATION_HEADER,
                "traceparent",
            ],
            expose_headers=[
                "Retry-After",
                TOTAL_COUNT_HEADER,
                NEXT_CURSOR_HEADER,
                "Link",
                "Location",
                "ETag",
                CORRELATION_HEADER,
            ],
        )
    # The most read lists first: FastAPI tries the routers in order, each one's routes in turn.
    # No two modules serve one path (prompts and prompt_writes share paths with other methods,
    # and keep their order), so the order changes no answer.
    modules = (
        runs,
        prompts,
        exports,
        render,
        prompt_writes,
        classes,
        tags,
        comparisons,
        batches,
        evaluators,
        evaluations,
        advice,
        live,
        providers,
        quick_tests,
        usage,
        api_keys,
        projects,
        admin,
    )
    for module in modules:
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(ops_router(lambda: runtime))
    install_console(app, settings.web_dist)
    return app
