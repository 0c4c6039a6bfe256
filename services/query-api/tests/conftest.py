"""Fixtures of query-api's tests: real Kafka, real PostgreSQL, the app served in-process; the
command services it forwards writes to run as real processes (``tests/support/service_process``).
``api.client`` calls as the bootstrap admin and query-api calls the command services with the
service credential (``tests/support/credentials``).

Helpers are handed out as fixtures because test modules here are not importable packages; the
event worlds (``prompt_world``, ``run_world``) are imported by path.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import DomainEvent
from promptworks_eventkit.positions import wait_for_stream_version
from promptworks_eventkit.settings import KafkaSettings
from query_api.app import create_app
from query_api.projections import CONSUMER_NAME
from query_api.settings import QueryApiSettings
from tests.support.credentials import ADMIN_KEY, SERVICE_TOKEN, admin_headers
from tests.support.kafka import produce
from tests.support.service_process import service_process

# Test modules are no package (the folder name has a hyphen): helpers are imported by path.
prompt_world = importlib.import_module("services.query-api.tests.prompt_world")
run_world = importlib.import_module("services.query-api.tests.run_world")

T = TypeVar("T")


@dataclass
class Publisher:
    """Produces events as real CloudEvents, numbering each stream's versions from 1.

    Each event is recorded 1 ms after the one before, so orders by time are exact."""

    kafka: KafkaSettings
    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    clock: datetime = field(default_factory=lambda: datetime.now(UTC))

    async def publish(self, events: Iterable[DomainEvent]) -> None:
        records = []
        for event in events:
            key = (event.topic, event.stream_id())
            self.versions[key] = self.versions.get(key, 0) + 1
            self.clock = max(self.clock + timedelta(milliseconds=1), datetime.now(UTC))
            envelope = Envelope(
                id=uuid.uuid4(),
                type=event.event_type,
                source="/tests",
                subject=event.stream_id(),
                time=self.clock,
                correlationid="tests",
                streamversion=self.versions[key],
            )
            records.append((event, envelope))
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
        async with httpx.AsyncClient(
            transport=transport, base_url="http://query-api", headers=admin_headers()
        ) as client:
            yield RunningApi(app, client)


@pytest.fixture
def serve() -> Serve:
    """``async with serve(settings) as api``: the app with a fresh lifespan (consumer, client)."""
    return _serve


@pytest.fixture
async def settings(database: Any, kafka: KafkaSettings) -> QueryApiSettings:
    url = await database("query-api")
    return QueryApiSettings(
        database_url=SecretStr(url),
        kafka=kafka,
        service_token=SecretStr(SERVICE_TOKEN),
        bootstrap_admin_key=SecretStr(ADMIN_KEY),
    )


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


@pytest.fixture
async def catalog(api: RunningApi, publisher: Publisher) -> Any:
    """The run catalog, published and fully projected by ``api``."""
    built = run_world.Catalog.build()
    await built.publish(publisher, api)
    return built


@pytest.fixture
def catalog_class() -> type[Any]:
    """For tests that publish the catalog themselves (e.g. around a restart)."""
    return run_world.Catalog  # type: ignore[no-any-return]


@pytest.fixture
def world_class() -> type[Any]:
    """``prompt_world.World``: classes, tags and prompts with every kind of prompt event."""
    return prompt_world.World  # type: ignore[no-any-return]


@pytest.fixture
async def world(api: RunningApi, publisher: Publisher) -> Any:
    """The prompt world, published and fully projected by ``api``."""
    built = prompt_world.World.build()
    await built.publish(publisher, api)
    return built


@pytest.fixture
async def prompt_service(database: Any, kafka: KafkaSettings, tmp_path: Path) -> AsyncIterator[str]:
    """The real prompt-service (``serve``, with its relay) as a process on a fresh database;
    its URL."""
    url = await database("prompt-service")
    async with service_process("prompt-service", url, kafka, tmp_path) as base_url:
        yield base_url
