"""The evaluator's composition root: one function wires every dependency."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Sequence

from fastapi import FastAPI

from evaluator.adapters.advice import PostgresAdviceRepository
from evaluator.adapters.completions import RunOrchestratorCompletions
from evaluator.adapters.definitions import PostgresDefinitionLookups
from evaluator.adapters.judgements import PostgresJudgementStore
from evaluator.adapters.postgres import PostgresEvaluationRepository
from evaluator.adapters.postgres_queue import REEVALUATION_WORKER
from evaluator.adapters.reevaluation import PostgresReevaluationRepository, ReevaluationLetters
from evaluator.api.advice import router as advice_router
from evaluator.api.evaluators import router as evaluators_router
from evaluator.api.reevaluations import router as reevaluations_router
from evaluator.api.routes import router
from evaluator.handlers.advice import Advisor
from evaluator.handlers.definitions import DefinitionHandlers
from evaluator.handlers.embeddings import EmbeddingMeter
from evaluator.handlers.evaluation import CONSUMER_NAME, EvaluationHandlers, PlanCache
from evaluator.handlers.judging import JudgeQueue
from evaluator.handlers.ports import RecentRecords
from evaluator.handlers.reevaluation import Reevaluations
from evaluator.handlers.summaries import RunSummaries
from evaluator.handlers.worker import EvaluationWorker
from evaluator.metrics import count_evaluated, count_queued
from evaluator.settings import EvaluatorSettings
from promptworks_contracts.events import ResultRecorded
from promptworks_eventkit.dead_letters_api import dead_letters_router
from promptworks_eventkit.failures import is_infrastructure_failure
from promptworks_eventkit.http import install_edge
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.runtime import Runtime, lifespan_for, ops_router
from promptworks_eventkit.service_credential import (
    document_service_credential,
    service_credential,
)
from promptworks_eventkit.settings import ServiceSettings
from promptworks_eventkit.writing.postgres import PostgresWritePort


def create_app(settings: ServiceSettings, with_relay: bool = True) -> FastAPI:
    if not isinstance(settings, EvaluatorSettings):
        raise TypeError("the evaluator needs EvaluatorSettings")
    runtime = Runtime.build(settings, with_relay=with_relay)
    port = PostgresWritePort(runtime.sessions, runtime.store, repos=PostgresEvaluationRepository)
    # Judge calls go through run-orchestrator: its providers' shared limits, retries, pricing.
    token = settings.service_token.get_secret_value() if settings.service_token else None
    completions = RunOrchestratorCompletions(settings.run_orchestrator_url, service_token=token)
    # Judgements are kept as soon as they are paid for: a rolled-back batch does not pay twice.
    judges = JudgeQueue(
        completions, settings.judge_concurrency, PostgresJudgementStore(runtime.sessions)
    )
    # The consumer keeps the runs' order and queues their results; the workers of every
    # replica evaluate them (ADR 0022).
    plans = PlanCache()
    # What this process's consumer queued, decoded: its workers do not decode it again.
    recent = RecentRecords()
    # Each text is embedded once per run and model in this process (ADR 0024).
    embeddings = EmbeddingMeter(completions, settings.judge_concurrency)
    workers = [
        EvaluationWorker(
            port,
            plans,
            judges,
            embeddings=embeddings,
            recent=recent,
            claim_size=settings.evaluation_claim_size,
            on_evaluated=count_evaluated,
            transient=is_infrastructure_failure,
        )
        for _ in range(settings.evaluation_workers)
    ]

    def wake_workers() -> None:
        for worker in workers:
            worker.wake()

    def queued(applied: Sequence[ReceivedEvent]) -> None:
        count_queued(applied)
        recent.add(e.event for e in applied if isinstance(e.event, ResultRecorded))
        wake_workers()

    runtime.add_consumer(
        CONSUMER_NAME, EvaluationHandlers(plans).router(), bind=port.joined, on_applied=queued
    )
    runtime.add_replay_path(REEVALUATION_WORKER, ReevaluationLetters())
    definitions = DefinitionHandlers(
        PostgresWritePort(runtime.sessions, runtime.store, repos=PostgresDefinitionLookups)
    )
    # Queues a re-evaluation's kept results; the workers of every replica evaluate them.
    reevaluations = Reevaluations(
        PostgresWritePort(runtime.sessions, runtime.store, repos=PostgresReevaluationRepository),
        definitions,
        plans,
        on_queued=wake_workers,
    )

    advisor = Advisor(
        PostgresWritePort(runtime.sessions, runtime.store, repos=PostgresAdviceRepository),
        completions,
    )

    async def start_worker(runtime: Runtime) -> None:
        runtime.spawn("reevaluations", reevaluations.run)
        runtime.spawn("advice", advisor.run)
        for number, worker in enumerate(workers):
            runtime.spawn(
                f"evaluation-worker-{number}",
                functools.partial(worker.run, settings.evaluation_poll_seconds),
            )

    base = lifespan_for(runtime, extra=[start_worker])

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with base(app):
                yield
        finally:
            await completions.aclose()  # after the consumer stopped asking

    app = FastAPI(
        title="PromptWorks evaluator",
        summary="Metrics and assertions for every model result; a summary per run",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.run_summaries = RunSummaries(port)
    app.state.definitions = definitions
    app.state.reevaluations = reevaluations
    app.state.advisor = advisor
    install_edge(app, settings, auth=service_credential(settings))
    document_service_credential(app)
    app.include_router(router)
    app.include_router(evaluators_router)
    app.include_router(reevaluations_router)
    app.include_router(advice_router)
    app.include_router(dead_letters_router(settings.service_name, runtime.dead_letters))
    app.include_router(ops_router(lambda: runtime))
    return app
