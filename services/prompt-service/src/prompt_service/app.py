"""prompt-service's composition root: one function wires every dependency."""

from __future__ import annotations

from fastapi import FastAPI

from prompt_service.api.routes import router
from prompt_service.handlers import PromptHandlers
from promptworks_eventkit.errors import install_error_handlers
from promptworks_eventkit.runtime import Runtime, lifespan_for, ops_router
from promptworks_eventkit.settings import ServiceSettings


def create_app(settings: ServiceSettings, with_relay: bool = True) -> FastAPI:
    runtime = Runtime.build(settings, with_relay=with_relay)
    app = FastAPI(
        title="PromptWorks prompt-service",
        summary="Command side of prompts and their immutable versions",
        lifespan=lifespan_for(runtime),
    )
    app.state.runtime = runtime
    app.state.handlers = PromptHandlers(runtime.sessions, runtime.store)
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(ops_router(lambda: runtime))
    return app
