"""A harness that runs run-orchestrator in-process on real PostgreSQL and Kafka.

Prompt versions reach the orchestrator the way prompt-service sends them: a
PromptVersionCreated on the (isolated) prompt topic with the CloudEvents headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import PromptVersionCreated
from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_contracts.topics import PROMPT_EVENTS, RUN_EVENTS
from promptworks_contracts.values import ChatTemplate, TextTemplate, VariableSpec
from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.kafka import create_producer
from promptworks_eventkit.settings import KafkaSettings
from run_orchestrator.app import create_app
from run_orchestrator.settings import RunOrchestratorSettings
from tests.support.credentials import SERVICE_TOKEN, service_headers

COMPLETED = "promptworks.run.completed.v1"
FAILED = "promptworks.run.failed.v1"
CANCELLED = "promptworks.run.cancelled.v1"


@dataclass(frozen=True)
class PublishedRun:
    events: list[tuple[Envelope, dict[str, Any]]]
    duplicates: int
    """Copies of an event id beyond the first (a relay re-sending after a crash)."""


class Harness:
    def __init__(self, database: Callable[[str], Awaitable[str]], kafka: KafkaSettings) -> None:
        self._database = database
        self.kafka = kafka
        self._url: str | None = None

    async def database_url(self) -> str:
        if self._url is None:
            self._url = await self._database("run-orchestrator")
        return self._url

    @contextlib.asynccontextmanager
    async def client(self, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        """The app with its lifespan (relay, consumer, executor) and an HTTP client on it."""
        settings = RunOrchestratorSettings(
            database_url=SecretStr(await self.database_url()),
            kafka=self.kafka,
            **{"prompt_wait_seconds": 30.0, "service_token": SecretStr(SERVICE_TOKEN), **overrides},
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://orchestrator",
                timeout=60,
                headers=service_headers(),
            ) as client:
                yield client

    async def publish_version(
        self,
        text: str | None = "Hello {{ name }}",
        variables: list[VariableSpec] | None = None,
        messages: list[dict[str, str]] | None = None,
        project: str = DEFAULT_PROJECT,
    ) -> PromptVersionCreated:
        template = (
            ChatTemplate.model_validate({"messages": messages})
            if messages
            else TextTemplate(text=text or "")
        )
        event = PromptVersionCreated(
            prompt_id=uuid.uuid4(),
            version_id=uuid.uuid4(),
            number=1,
            template=template,
            variables=[VariableSpec(name="name")] if variables is None else variables,
        )
        envelope = Envelope(
            id=uuid.uuid4(),
            type=event.event_type,
            source="/prompt-service",
            subject=event.stream_id(),
            time=datetime.now(UTC),
            correlationid=str(uuid.uuid4()),
            streamversion=2,
            project=project,
        )
        producer = create_producer(self.kafka, "run-orchestrator-tests")
        await producer.start()
        try:
            await producer.send_and_wait(
                self.kafka.topic(PROMPT_EVENTS),
                value=event.model_dump_json().encode(),
                key=event.stream_id().encode(),
                headers=envelope.to_kafka_headers(),
            )
        finally:
            await producer.stop()
        return event

    async def stored_events(self, run_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        """(version, type, data) of a run's stream, from the event store."""
        connection = await asyncpg.connect(asyncpg_dsn(await self.database_url()))
        try:
            rows = await connection.fetch(
                "SELECT version, event_type, data FROM events WHERE stream_id = $1 "
                "ORDER BY version",
                run_id,
            )
        finally:
            await connection.close()
        return [(r["version"], r["event_type"], json.loads(r["data"])) for r in rows]

    async def fetchval(self, query: str, *args: Any) -> Any:
        connection = await asyncpg.connect(asyncpg_dsn(await self.database_url()))
        try:
            return await connection.fetchval(query, *args)
        finally:
            await connection.close()

    async def wait_finished(
        self, run_id: str, timeout: float = 60.0, interval: float = 0.05
    ) -> list[tuple[int, str, dict[str, Any]]]:
        """The run's stored events once RunCompleted, RunFailed or RunCancelled is stored."""
        query = "SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = ANY($2::text[])"
        async with asyncio.timeout(timeout):
            while not await self.fetchval(query, run_id, [COMPLETED, FAILED, CANCELLED]):
                await asyncio.sleep(interval)
        return await self.stored_events(run_id)

    async def read_run_topic(self, run_id: str, timeout: float = 60.0) -> PublishedRun:
        """The run's events as published on Kafka, up to RunCompleted, each once, and how many
        extra copies of an event id were on the topic (counted, not hidden)."""
        consumer = AIOKafkaConsumer(
            self.kafka.topic(RUN_EVENTS),
            bootstrap_servers=self.kafka.bootstrap_servers,
            auto_offset_reset="earliest",
            group_id=f"probe-{uuid.uuid4()}",
            max_partition_fetch_bytes=self.kafka.max_message_bytes,
        )
        await consumer.start()
        seen: dict[uuid.UUID, tuple[Envelope, dict[str, Any]]] = {}
        duplicates = 0
        try:
            async with asyncio.timeout(timeout):
                while not any(e.type in (COMPLETED, FAILED) for e, _ in seen.values()):
                    for messages in (await consumer.getmany(timeout_ms=500)).values():
                        for record in messages:
                            if record.key != run_id.encode():
                                continue
                            envelope = Envelope.from_kafka_headers(record.headers)
                            if envelope.id in seen:
                                duplicates += 1
                                continue
                            seen[envelope.id] = (envelope, json.loads(record.value))
        finally:
            await consumer.stop()
        events = sorted(seen.values(), key=lambda item: item[0].streamversion)
        return PublishedRun(events, duplicates)


@pytest.fixture
def harness(database: Callable[[str], Awaitable[str]], kafka: KafkaSettings) -> Harness:
    return Harness(database, kafka)
