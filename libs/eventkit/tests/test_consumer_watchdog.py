"""The consumer's watchdog (ADR 0034) on real Kafka and PostgreSQL: a consumer that stops
making progress gets a new Kafka client and goes on from the stored offsets, applying every
event once; a consumer that rightly owns nothing is left alone.

The stall is made with the Kafka client's own public calls (``pause``), as a wedged client
looks from outside: partitions owned, records waiting, nothing fetched."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import func, select

from promptworks_eventkit.consumer import ConsumerRunner
from tests.support.kafka import produce

from .conftest import applied
from .helpers import (
    _equals,
    count_rows,
    prompt_events,
    restarts,
    running_consumer,
    wait_until,
)

pytestmark = pytest.mark.integration

WINDOW = 4.0
"""The watchdog's window in these tests (the default is 60 s)."""


async def distinct_applied(scratch_db) -> int:
    async with scratch_db.sessions() as session:
        return int(await session.scalar(select(func.count(func.distinct(applied.c.event_id)))))


async def owns_partitions(runner: ConsumerRunner) -> bool:
    consumer = runner._consumer
    return consumer is not None and bool(consumer.assignment())


async def test_a_consumer_that_fetches_nothing_while_behind_gets_a_new_client(
    scratch_db, kafka
) -> None:
    await produce(kafka, prompt_events(100))
    async with running_consumer(scratch_db, kafka, stall_seconds=WINDOW) as runner:
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 100))
        await wait_until(lambda: owns_partitions(runner))
        before = restarts("stalled")
        wedged = runner._consumer
        assert wedged is not None
        wedged.pause(*wedged.assignment())  # owns its partitions, fetches nothing
        await produce(kafka, prompt_events(50))
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 150))
        assert runner._consumer is not wedged
    assert restarts("stalled") >= before + 1
    assert await count_rows(scratch_db, applied) == await distinct_applied(scratch_db) == 150


async def test_a_member_that_owns_nothing_is_left_alone(scratch_db, kafka) -> None:
    """Four members, three partitions: one member rightly owns nothing. Over three windows
    the watchdog replaces no one, and the events are applied once."""
    await produce(kafka, prompt_events(60))
    async with contextlib.AsyncExitStack() as stack:
        runners = [
            await stack.enter_async_context(
                running_consumer(scratch_db, kafka, stall_seconds=WINDOW)
            )
            for _ in range(4)
        ]

        async def one_idle_member() -> bool:
            owning = [await owns_partitions(r) for r in runners]
            return owning.count(False) == 1 and all(r.running for r in runners)

        await wait_until(one_idle_member, timeout=60)
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 60))
        before = restarts("stalled")
        clients = [r._consumer for r in runners]
        await asyncio.sleep(3 * WINDOW)
        assert restarts("stalled") == before
        assert [r._consumer for r in runners] == clients
        await produce(kafka, prompt_events(30))
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 90))
    assert await distinct_applied(scratch_db) == 90
