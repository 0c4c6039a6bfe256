"""The four services as real processes on real Kafka and PostgreSQL, with fresh databases."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import pytest

from devstack.services import Stack, default_specs
from tests.support.fake_openai import FakeOpenAI, free_port, serving_fake_openai
from tests.support.infra import (
    Infra,
    create_migrated_database,
    delete_topics,
    drop_database,
    isolated_kafka,
)
from tests.support.private_infra import PrivateInfra, running_private_infra

FAKE_API_KEY = "sk-e2e-secret-never-logged"
PRICED_MOCK = {"input_per_million": "3.00", "output_per_million": "15.00", "currency": "USD"}
"""The price of the mock model ``priced`` in the e2e stack."""


@pytest.fixture(scope="module")
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    async with serving_fake_openai() as fake:
        yield fake


@contextlib.asynccontextmanager
async def running_stack(
    infra: Infra, run_dir: Path, extra_env: Mapping[str, Mapping[str, str]]
) -> AsyncIterator[Stack]:
    """The four services as processes on fresh databases and topics; removed afterwards."""
    kafka = await isolated_kafka(infra)
    specs = default_specs()
    databases = {s.name: await create_migrated_database(infra, s.name) for s in specs}
    ports = [free_port() for _ in specs]
    specs = [
        type(s)(s.name, s.module, s.database, port) for s, port in zip(specs, ports, strict=True)
    ]
    stack = Stack(
        database_url_base=infra.database_url_base,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        run_dir=run_dir,
        specs=specs,
        topic_prefix=kafka.topic_prefix,
        databases={name: url.rsplit("/", 1)[1] for name, url in databases.items()},
        extra_env=extra_env,
    )
    stack.start_all()
    try:
        await asyncio.to_thread(stack.wait_ready)
        yield stack
    finally:
        stack.stop_all()
        for url in databases.values():
            await drop_database(infra, url)
        await delete_topics(kafka)


@pytest.fixture(scope="module")
def service_env() -> dict[str, str]:
    """Environment every service of the module's stack gets; a module overrides this fixture
    to change it (``test_pipeline`` exports traces to a receiver of its own)."""
    return {}


@pytest.fixture(scope="module")
async def stack(
    infra: Infra,
    fake_openai: FakeOpenAI,
    service_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    providers = {
        "fake-openai": {"kind": "openai", "base_url": fake_openai.base_url, "api_key": FAKE_API_KEY}
    }
    priced = {"priced": {"pricing": PRICED_MOCK}}
    extra_env: dict[str, dict[str, str]] = {
        name: dict(service_env)
        for name in ("prompt-service", "run-orchestrator", "evaluator", "query-api")
    }
    extra_env["run-orchestrator"] |= {
        "PROVIDERS": json.dumps(providers),
        "MOCK_MODELS": json.dumps(priced),
        # The catalog test registers the loopback fake by reference to this variable.
        "E2E_FAKE_API_KEY": FAKE_API_KEY,
        "ALLOW_PRIVATE_PROVIDER_URLS": "true",
    }
    async with running_stack(infra, Path(tmp_path_factory.mktemp("stack")), extra_env) as stack:
        yield stack


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def private_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateInfra]:
    """A PostgreSQL + Kafka of the fault tests' own (free ports, own state dir), which they
    crash and restart; the shared test stack is never touched. One for the session: both fault
    modules use it (each on fresh databases and topics)."""
    with running_private_infra(tmp_path_factory.mktemp("private-infra")) as infra:
        yield infra
