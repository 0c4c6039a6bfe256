"""prompt-service in-process on real PostgreSQL and Kafka, and probes of what it wrote."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from prompt_service.app import create_app
from prompt_service.settings import PromptServiceSettings
from promptworks_contracts.envelope import Envelope
from promptworks_contracts.topics import PROMPT_EVENTS
from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.settings import KafkaSettings
from tests.support.credentials import SERVICE_TOKEN, service_headers


@dataclass
class Published:
    key: str
    envelope: Envelope
    data: dict[str, Any]


@dataclass
class Service:
    """The running app, its database and its (isolated) Kafka topics."""

    client: httpx.AsyncClient
    database_url: str
    kafka: KafkaSettings

    @staticmethod
    def if_match(version: int) -> dict[str, str]:
        return {"If-Match": f'"{version}"'}

    @staticmethod
    def error(response: httpx.Response) -> dict[str, Any]:
        """The first error of a 4xx body."""
        first: dict[str, Any] = response.json()["errors"][0]
        return first

    async def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(asyncpg_dsn(self.database_url))
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()

    async def stream(self, stream_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        """(version, type, data) of a stream, from the event store."""
        rows = await self.query(
            "SELECT version, event_type, data FROM events WHERE stream_id = $1 ORDER BY version",
            stream_id,
        )
        return [(r["version"], r["event_type"], json.loads(r["data"])) for r in rows]

    async def event_count(self) -> int:
        return int((await self.query("SELECT count(*) AS n FROM events"))[0]["n"])

    async def lookup_counts(self) -> dict[str, int]:
        counts = {}
        for table in ("prompt_names", "classes", "tags", "prompt_tags"):
            counts[table] = int((await self.query(f"SELECT count(*) AS n FROM {table}"))[0]["n"])
        return counts

    async def published(self, count: int, timeout: float = 20.0) -> list[Published]:
        """The first ``count`` records on the prompt topic (one partition order per stream)."""
        consumer = AIOKafkaConsumer(
            self.kafka.topic(PROMPT_EVENTS),
            bootstrap_servers=self.kafka.bootstrap_servers,
            auto_offset_reset="earliest",
            group_id=f"probe-{uuid.uuid4()}",
        )
        await consumer.start()
        records: list[Published] = []
        seen: set[uuid.UUID] = set()
        try:
            async with asyncio.timeout(timeout):
                while len(records) < count:
                    for messages in (await consumer.getmany(timeout_ms=500)).values():
                        for record in messages:
                            envelope = Envelope.from_kafka_headers(record.headers)
                            if envelope.id not in seen:  # at-least-once: drop redeliveries
                                seen.add(envelope.id)
                                key = (record.key or b"").decode()
                                records.append(Published(key, envelope, json.loads(record.value)))
        finally:
            await consumer.stop()
        return records


@pytest.fixture
async def service(database: Any, kafka: KafkaSettings) -> AsyncIterator[Service]:
    url = await database("prompt-service")
    settings = PromptServiceSettings(
        database_url=SecretStr(url), kafka=kafka, service_token=SecretStr(SERVICE_TOKEN)
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://prompt", timeout=60, headers=service_headers()
        ) as client:
            yield Service(client, url, kafka)


@pytest.fixture
def client(service: Service) -> httpx.AsyncClient:
    return service.client
