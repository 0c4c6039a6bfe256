"""prompt-service's composition root: one function wires every dependency."""

from __future__ import annotations

from fastapi import FastAPI

from prompt_service.api import classes, prompts, tags
from prompt_service.handlers.prompts import PromptHandlers
from prompt_service.handlers.taxonomy import TaxonomyHandlers
from promptworks_eventkit.http import install_error_handlers
from promptworks_eventkit.runtime import Runtime, lifespan_for, ops_router
from promptworks_eventkit.settings import ServiceSettings


def create_app(settings: ServiceSettings, with_relay: bool = True) -> FastAPI:
    runtime = Runtime.build(settings, with_relay=with_relay)
    app = FastAPI(
        title="PromptWorks prompt-service",
        summary="Command side of prompts, their immutable versions, labels, classes and tags",
        lifespan=lifespan_for(runtime),
    )
    app.state.runtime = runtime
    app.state.prompt_handlers = PromptHandlers(runtime.sessions, runtime.store)
    app.state.taxonomy_handlers = TaxonomyHandlers(runtime.sessions, runtime.store)
    install_error_handlers(app)
    app.include_router(prompts.router)
    app.include_router(classes.router)
    app.include_router(tags.router)
    app.include_router(ops_router(lambda: runtime))
    return app
