"""The evaluator's composition root: one function wires every dependency."""

from __future__ import annotations

from fastapi import FastAPI

from evaluator.api.routes import router
from evaluator.handlers import CONSUMER_NAME, EvaluationHandlers
from promptworks_eventkit.http import install_error_handlers
from promptworks_eventkit.runtime import Runtime, lifespan_for, ops_router
from promptworks_eventkit.settings import ServiceSettings


def create_app(settings: ServiceSettings, with_relay: bool = True) -> FastAPI:
    runtime = Runtime.build(settings, with_relay=with_relay)
    runtime.add_consumer(CONSUMER_NAME, EvaluationHandlers(runtime.store).router())
    app = FastAPI(
        title="PromptWorks evaluator",
        summary="Metrics and assertions for every model result; a summary per run",
        lifespan=lifespan_for(runtime),
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(ops_router(lambda: runtime))
    return app
