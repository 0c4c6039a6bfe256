"""prompt-service's composition root: one function wires every dependency.

The only module that knows both the adapters (PostgreSQL) and the handlers: the write port on
the runtime's sessions and event store, with the PostgreSQL lookups as its repositories.
"""

from __future__ import annotations

from fastapi import FastAPI

from prompt_service.adapters.postgres import PostgresPromptRepos
from prompt_service.api import prompts
from prompt_service.api.taxonomy import CLASSES, TAGS, taxonomy_router
from prompt_service.handlers.ports import PromptPort
from prompt_service.handlers.prompts import PromptHandlers
from prompt_service.handlers.taxonomy import TaxonomyHandlers
from promptworks_eventkit.http import install_edge
from promptworks_eventkit.runtime import Runtime, lifespan_for, ops_router
from promptworks_eventkit.service_credential import (
    document_service_credential,
    service_credential,
)
from promptworks_eventkit.settings import ServiceSettings
from promptworks_eventkit.writing.postgres import PostgresWritePort


def create_app(settings: ServiceSettings, with_relay: bool = True) -> FastAPI:
    runtime = Runtime.build(settings, with_relay=with_relay)
    port: PromptPort = PostgresWritePort(runtime.sessions, runtime.store, PostgresPromptRepos)
    app = FastAPI(
        title="PromptWorks prompt-service",
        summary="Command side of prompts, their immutable versions, labels, classes and tags",
        lifespan=lifespan_for(runtime),
    )
    app.state.runtime = runtime
    app.state.prompt_handlers = PromptHandlers(port)
    install_edge(app, settings, auth=service_credential(settings))
    document_service_credential(app)
    app.include_router(prompts.router)
    for api in (CLASSES, TAGS):
        app.include_router(taxonomy_router(api, TaxonomyHandlers(port, api.kind)))
    app.include_router(ops_router(lambda: runtime))
    return app
