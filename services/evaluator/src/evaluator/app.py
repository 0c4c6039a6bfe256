"""The evaluator's composition root: one function wires every dependency."""

from __future__ import annotations

from fastapi import FastAPI

from evaluator.adapters.postgres import PostgresEvaluationRepository
from evaluator.api.routes import router
from evaluator.handlers.evaluation import CONSUMER_NAME, EvaluationHandlers
from evaluator.handlers.summaries import RunSummaries
from evaluator.metrics import count_evaluated
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
    port = PostgresWritePort(runtime.sessions, runtime.store, repos=PostgresEvaluationRepository)
    runtime.add_consumer(
        CONSUMER_NAME,
        EvaluationHandlers().router(),
        bind=port.joined,
        on_applied=count_evaluated,
    )
    app = FastAPI(
        title="PromptWorks evaluator",
        summary="Metrics and assertions for every model result; a summary per run",
        lifespan=lifespan_for(runtime),
    )
    app.state.runtime = runtime
    app.state.run_summaries = RunSummaries(port)
    install_edge(app, settings, auth=service_credential(settings))
    document_service_credential(app)
    app.include_router(router)
    app.include_router(ops_router(lambda: runtime))
    return app
