"""prompt-service through its HTTP API, on real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from prompt_service.app import create_app
from prompt_service.settings import PromptServiceSettings
from promptworks_contracts.envelope import Envelope
from promptworks_contracts.topics import PROMPT_EVENTS
from promptworks_eventkit.settings import KafkaSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(database, kafka: KafkaSettings) -> AsyncIterator[httpx.AsyncClient]:
    url = await database("prompt-service")
    settings = PromptServiceSettings(database_url=SecretStr(url), kafka=kafka)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://prompt") as client:
            client.kafka = kafka  # type: ignore[attr-defined]
            yield client


async def read_topic(kafka: KafkaSettings, count: int) -> list[tuple[bytes, Envelope, bytes]]:
    consumer = AIOKafkaConsumer(
        kafka.topic(PROMPT_EVENTS),
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"probe-{uuid.uuid4()}",
    )
    await consumer.start()
    records = []
    try:
        async with asyncio.timeout(20):
            while len(records) < count:
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(messages)
    finally:
        await consumer.stop()
    return [(r.key, Envelope.from_kafka_headers(r.headers), r.value) for r in records]


async def test_create_prompt_publishes_created_and_version_events(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/prompts",
        json={
            "name": "greeting",
            "author": "ann",
            "class_name": "demo",
            "version": "v1",
            "content": 'Say hello to {{ name }} as JSON like {"greeting": "..."}',
            "variables": [{"name": "name"}],
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["version_number"] == 1 and body["stream_version"] == 2
    assert response.headers["ETag"] == '"2"'

    records = await read_topic(client.kafka, 2)  # type: ignore[attr-defined]
    keys = {key for key, _, _ in records}
    assert keys == {body["prompt_id"].encode()}
    types = [envelope.type for _, envelope, _ in records]
    assert types == ["promptworks.prompt.created.v1", "promptworks.prompt.version_created.v1"]
    assert [envelope.streamversion for _, envelope, _ in records] == [1, 2]
    assert all(envelope.source == "/prompt-service" for _, envelope, _ in records)


async def test_duplicate_name_in_class_is_409(client: httpx.AsyncClient) -> None:
    payload = {"name": "dup", "class_name": "c", "content": "hi"}
    assert (await client.post("/prompts", json=payload)).status_code == 201
    response = await client.post("/prompts", json=payload)
    assert response.status_code == 409
    assert response.json()["detail"][0]["field"] == "name"


@pytest.mark.parametrize(
    ("payload", "field", "rule"),
    [
        ({"content": "hi"}, "name", "missing"),
        ({"name": "  ", "content": "hi"}, "name", "string_pattern_mismatch"),
        ({"name": "a"}, "", "value_error"),
        ({"name": "a", "content": "x" * 100_001}, "content", "string_too_long"),
        ({"name": "a", "content": "{{ broken "}, "content", "template_syntax"),
        (
            {"name": "a", "content": "{{ x }}", "variables": [{"name": "y"}]},
            "variables",
            "variables_mismatch",
        ),
    ],
)
async def test_bad_input_names_field_and_rule(
    client: httpx.AsyncClient, payload: dict[str, object], field: str, rule: str
) -> None:
    response = await client.post("/prompts", json=payload)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["field"] == field
    assert detail["type"] == rule


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/prompts", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_new_version_with_stale_if_match_is_409(client: httpx.AsyncClient) -> None:
    created = (await client.post("/prompts", json={"name": "v", "content": "one"})).json()
    path = f"/prompts/{created['prompt_id']}/versions"
    ok = await client.post(path, json={"content": "two"}, headers={"If-Match": '"2"'})
    assert ok.status_code == 201 and ok.json()["version_number"] == 2
    stale = await client.post(path, json={"content": "three"}, headers={"If-Match": '"2"'})
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 3


async def test_new_version_of_unknown_prompt_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/prompts/{uuid.uuid4()}/versions", json={"content": "x"})
    assert response.status_code == 404
