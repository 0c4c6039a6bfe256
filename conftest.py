"""Fixtures every test suite shares: real PostgreSQL and Kafka (see tests/support/infra.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from promptworks_eventkit.settings import KafkaSettings
from tests.support.infra import (
    Infra,
    create_migrated_database,
    delete_topics,
    drop_database,
    isolated_kafka,
    running_infra,
)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """Kafka and PostgreSQL from the back end chosen at start-up (``tests/support/infra.py``:
    the local stack, or testcontainers where a Docker engine answers)."""
    with running_infra() as infra:
        yield infra


@pytest.fixture
async def kafka(infra: Infra) -> AsyncIterator[KafkaSettings]:
    """Settings for a fresh set of topics (own prefix) on the real broker; deleted after."""
    settings = await isolated_kafka(infra)
    yield settings
    await delete_topics(settings)


DatabaseFactory = Callable[[str], Awaitable[str]]


@pytest.fixture
async def database(infra: Infra) -> AsyncIterator[DatabaseFactory]:
    """``await database("prompt-service")``: a new database with that service's migrations."""
    created: list[str] = []

    async def make(service: str) -> str:
        url = await create_migrated_database(infra, service)
        created.append(url)
        return url

    yield make
    for url in created:
        await drop_database(infra, url)
