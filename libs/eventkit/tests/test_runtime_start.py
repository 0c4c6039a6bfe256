"""A process started while Kafka is down serves HTTP, is not ready, and connects when Kafka
returns (found by the fault test: the evaluator exited at start while the broker restarted, and
a Kubernetes pod doing so waits ever longer in CrashLoopBackOff)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from promptworks_contracts.events import PromptCreated
from promptworks_eventkit.router import EventRouter
from promptworks_eventkit.runtime import Runtime, ops_router
from promptworks_eventkit.settings import KafkaSettings, ServiceSettings
from tests.support.fake_openai import free_port
from tests.support.kafka import produce

from .conftest import applied
from .helpers import CONSUMER, _equals, count_rows, prompt_events, record_applies, wait_until

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def forwarding(port: int, to: str) -> AsyncIterator[None]:
    """Listens on ``port`` and pipes each connection to ``to`` (host:port): the broker
    "comes back" at the address the process was given. (After bootstrapping, a Kafka client
    talks to the address the broker advertises, the real one.)"""
    host, target_port = to.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(target_port))
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = await asyncio.start_server(accept, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()


async def test_a_process_started_while_kafka_is_down_connects_when_it_returns(
    scratch_db, kafka: KafkaSettings
) -> None:
    port = free_port()  # nothing listens here yet
    absent = kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{port}"})
    settings = ServiceSettings(
        service_name="late-start", database_url=SecretStr(scratch_db.url), kafka=absent
    )
    runtime = Runtime.build(settings, with_relay=True)
    runtime.add_consumer(CONSUMER, EventRouter({PromptCreated: record_applies}))
    app = FastAPI()
    app.include_router(ops_router(lambda: runtime))
    transport = httpx.ASGITransport(app=app)

    await runtime.start()  # returns: the process starts, and keeps trying in the background
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            alive = await client.get("/healthz")
            assert alive.status_code == 200, alive.text
            waiting = await client.get("/readyz")
            assert waiting.status_code == 503
            assert waiting.json()["detail"] == "not ready: kafka"
            assert waiting.json()["checks"]["kafka"] == "connecting"

            async with forwarding(port, kafka.bootstrap_servers):

                async def ready() -> bool:
                    return (await client.get("/readyz")).status_code == 200

                await wait_until(ready, timeout=60)
                body = (await client.get("/readyz")).json()
                assert body["checks"]["kafka"] == "ok"
                assert body["checks"]["outbox_relay"] in ("active", "standby")
                assert body["checks"][f"consumer:{CONSUMER}"] == "ok"

                # The late-started consumer does its work.
                await produce(kafka, prompt_events(5))
                await wait_until(lambda: _equals(count_rows(scratch_db, applied), 5))
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await runtime.stop()
