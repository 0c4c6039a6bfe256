"""Fixtures of query-api's tests: real Kafka, real PostgreSQL, the app served in-process.

Helpers are handed out as fixtures because test modules here are not importable packages.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_contracts.events import (
    DomainEvent,
    PromptCreated,
    PromptVersionCreated,
    ResultEvaluated,
    ResultRecorded,
    RunCompleted,
    RunCreated,
    RunEvaluated,
    RunFailed,
    RunStarted,
)
from promptworks_contracts.values import (
    ChatMessage,
    ChatTemplate,
    MetricSummary,
    MetricValue,
    ModelParameters,
    ModelRef,
    TextTemplate,
    TokenUsage,
    VariableSpec,
)
from promptworks_eventkit.positions import wait_for_stream_version
from promptworks_eventkit.settings import KafkaSettings
from query_api.app import create_app
from query_api.projections import CONSUMER_NAME
from query_api.settings import QueryApiSettings
from tests.support.kafka import envelope_for, produce

T = TypeVar("T")


@dataclass
class Publisher:
    """Produces events as real CloudEvents, numbering each stream's versions from 1."""

    kafka: KafkaSettings
    versions: dict[tuple[str, str], int] = field(default_factory=dict)

    async def publish(self, events: Iterable[DomainEvent]) -> None:
        records = []
        for event in events:
            key = (event.topic, event.stream_id())
            self.versions[key] = self.versions.get(key, 0) + 1
            records.append((event, envelope_for(event, self.versions[key])))
        await produce(self.kafka, records)

    def version(self, event: DomainEvent) -> int:
        """The stream version last published on ``event``'s topic and stream."""
        return self.versions[(event.topic, event.stream_id())]


@dataclass
class RunningApi:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        sessions: async_sessionmaker[AsyncSession] = self.app.state.runtime.sessions
        return sessions

    async def applied(self, event: DomainEvent, version: int, within: float = 30.0) -> None:
        """Waits until the projection applied ``event``'s stream up to ``version``."""
        done = await wait_for_stream_version(
            self.sessions, CONSUMER_NAME, event.topic, event.stream_id(), version, within
        )
        assert done, f"{event.topic}/{event.stream_id()} not applied up to {version}"


Serve = Callable[[QueryApiSettings], contextlib.AbstractAsyncContextManager[RunningApi]]


@contextlib.asynccontextmanager
async def _serve(settings: QueryApiSettings) -> AsyncIterator[RunningApi]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://query-api") as client:
            yield RunningApi(app, client)


@pytest.fixture
def serve() -> Serve:
    """``async with serve(settings) as api``: the app with a fresh lifespan (consumer, client)."""
    return _serve


@pytest.fixture
async def settings(database: Any, kafka: KafkaSettings) -> QueryApiSettings:
    url = await database("query-api")
    return QueryApiSettings(database_url=SecretStr(url), kafka=kafka)


@pytest.fixture
async def api(settings: QueryApiSettings) -> AsyncIterator[RunningApi]:
    async with _serve(settings) as running:
        yield running


@pytest.fixture
def publisher(kafka: KafkaSettings) -> Publisher:
    return Publisher(kafka)


async def _eventually(check: Callable[[], Awaitable[T]], within: float = 30.0) -> T:
    """Retries ``check`` until it stops raising AssertionError (projections are async)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.1)


Eventually = Callable[..., Awaitable[Any]]


@pytest.fixture
def eventually() -> Eventually:
    return _eventually


def _prompt(name: str, author: str, class_name: str | None, tags: list[str]) -> PromptCreated:
    return PromptCreated(
        prompt_id=uuid.uuid4(), name=name, author=author, class_name=class_name, tags=tags
    )


def _version(prompt: PromptCreated, number: int, **fields: Any) -> PromptVersionCreated:
    fields.setdefault("template", TextTemplate(text=f"{prompt.name} v{number}"))
    return PromptVersionCreated(
        prompt_id=prompt.prompt_id, version_id=uuid.uuid4(), number=number, **fields
    )


def _run(version: PromptVersionCreated, cases: int, repetitions: int, **fields: Any) -> RunCreated:
    return RunCreated(
        run_id=uuid.uuid4(),
        prompt_id=version.prompt_id,
        prompt_version_id=version.version_id,
        prompt_version_number=version.number,
        template=version.template,
        model=ModelRef(provider="mock", name="echo"),
        parameters=ModelParameters(temperature=0.2, top_p=0.9),
        repetitions=repetitions,
        cases=[{"name": f"user{i}"} for i in range(cases)],
        total_calls=max(cases, 1) * repetitions,
        **fields,
    )


def _metrics(result: ResultRecorded) -> ResultEvaluated:
    return ResultEvaluated(
        run_id=result.run_id,
        result_id=result.result_id,
        metrics=[
            MetricValue(name="latency_ms", value=result.latency_ms),
            MetricValue(name="contains_0", passed=result.error is None, detail="checked"),
            MetricValue(name="output_chars", value=float(len(result.output or ""))),
        ],
    )


@dataclass
class Catalog:
    """Three prompts (one with two versions) and four runs that cover every status.

    ``done`` is completed with 4 results (one failed call) and every metric; the metrics of
    its first two results and ``early``'s summary are applied BEFORE their result/run exists.
    """

    greeting: PromptCreated
    summarize: PromptCreated
    translator: PromptCreated
    greeting_v1: PromptVersionCreated
    greeting_v2: PromptVersionCreated
    summarize_v1: PromptVersionCreated
    translator_v1: PromptVersionCreated
    done: RunCreated
    failed: RunCreated
    running: RunCreated
    early: RunCreated
    results: list[ResultRecorded]

    @classmethod
    def build(cls) -> Catalog:
        greeting = _prompt("greeting", "ann lee", "demo", ["onboarding", "email"])
        summarize = _prompt("summarize article", "bob stone", "news", [])
        translator = _prompt("translator", "carol", None, [])
        v1, summarize_v1 = _version(greeting, 1, label="v1"), _version(summarize, 1, label="1st")
        v2 = _version(
            greeting,
            2,
            label="v2",
            template=ChatTemplate(messages=[ChatMessage(role="user", content="Hi {{ name }}")]),
            variables=[VariableSpec(name="name")],
            default_model=ModelRef(provider="mock", name="echo"),
            commit_message="chat form",
            author="ann lee",
        )
        done = _run(v2, 2, 2, notes="smoke", batch_id="batch-1")
        results = [
            ResultRecorded(
                run_id=done.run_id,
                result_id=uuid.uuid4(),
                case_index=case,
                repetition=repetition,
                output=None if (case, repetition) == (1, 2) else f"Hi user{case}",
                error="timeout" if (case, repetition) == (1, 2) else None,
                latency_ms=10.0 * (case + 1) + repetition,
                usage=TokenUsage(prompt_tokens=5, completion_tokens=3, total_tokens=8),
                finish_reason="stop",
            )
            for case in range(2)
            for repetition in (1, 2)
        ]
        return cls(
            greeting=greeting,
            summarize=summarize,
            translator=translator,
            greeting_v1=v1,
            greeting_v2=v2,
            summarize_v1=summarize_v1,
            translator_v1=_version(translator, 1),
            done=done,
            failed=_run(v1, 1, 1),
            running=_run(summarize_v1, 0, 3),
            early=_run(v2, 1, 1),
            results=results,
        )

    async def publish(self, publisher: Publisher, api: RunningApi) -> None:
        done, early, results = self.done, self.early, self.results
        summary = RunEvaluated(
            run_id=done.run_id,
            evaluated=4,
            summaries=[MetricSummary(name="contains_0", count=4, pass_rate=0.75)],
        )
        # 1. Evaluations that arrive before the result or run they describe.
        await publisher.publish(
            [_metrics(results[0]), _metrics(results[1]), replace_run(summary, early.run_id)]
        )
        await api.applied(summary, 2)
        await api.applied(replace_run(summary, early.run_id), 1)
        # 2. Prompts (greeting's v2 last: it becomes the most recently updated) and runs.
        await publisher.publish(
            [
                self.greeting, self.greeting_v1, self.summarize, self.summarize_v1,
                self.translator, self.translator_v1, self.greeting_v2,
                done, RunStarted(run_id=done.run_id), *reversed(results),
                RunCompleted(run_id=done.run_id, status="completed", succeeded=3, failed=1),
                self.failed, RunStarted(run_id=self.failed.run_id),
                RunFailed(run_id=self.failed.run_id, reason="provider 'nope' is not configured"),
                self.running, RunStarted(run_id=self.running.run_id),
                early, RunStarted(run_id=early.run_id),
                RunCompleted(run_id=early.run_id, status="completed", succeeded=1, failed=0),
            ]
        )  # fmt: skip
        # 3. The rest of the evaluations, after their results.
        await publisher.publish([_metrics(results[2]), _metrics(results[3]), summary])
        for event in (self.greeting, self.summarize, self.translator, done, early):
            await api.applied(event, publisher.version(event))
        for event in (self.failed, self.running, summary):
            await api.applied(event, publisher.version(event))


def replace_run(event: RunEvaluated, run_id: uuid.UUID) -> RunEvaluated:
    return event.model_copy(update={"run_id": run_id})


@pytest.fixture
async def catalog(api: RunningApi, publisher: Publisher) -> Catalog:
    """The catalog, published and fully projected by ``api``."""
    built = Catalog.build()
    await built.publish(publisher, api)
    return built


@pytest.fixture
def catalog_class() -> type[Catalog]:
    """For tests that publish the catalog themselves (e.g. around a restart)."""
    return Catalog
