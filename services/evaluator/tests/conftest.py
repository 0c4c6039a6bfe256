"""The evaluator running in-process against real Kafka and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine

from evaluator.app import create_app
from evaluator.settings import EvaluatorSettings
from promptworks_eventkit.settings import KafkaSettings
from services.evaluator.tests.harness import Harness
from tests.support.credentials import SERVICE_TOKEN, service_headers


@pytest.fixture
async def evaluator(database: Any, kafka: KafkaSettings) -> AsyncIterator[Harness]:
    url: str = await database("evaluator")
    settings = EvaluatorSettings(
        database_url=SecretStr(url), kafka=kafka, service_token=SecretStr(SERVICE_TOKEN)
    )
    app = create_app(settings)
    engine = create_async_engine(url)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=5)
    await producer.start()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://eval", headers=service_headers()
            ) as client:
                yield Harness(kafka, engine, client, producer)
    finally:
        await producer.stop()
        await engine.dispose()
