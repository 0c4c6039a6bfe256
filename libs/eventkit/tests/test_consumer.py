"""Consumer runner guarantees on real Kafka and PostgreSQL: exactly once in effect."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from promptworks_contracts.topics import PROMPT_EVENTS, dlq_topic
from promptworks_eventkit.tables import dead_letters
from tests.support.kafka import produce, read_topic

from .conftest import applied
from .helpers import (
    _at_least,
    _equals,
    count_rows,
    prompt_events,
    running_consumer,
    stored_offsets,
    wait_until,
)

pytestmark = pytest.mark.integration


async def test_each_event_applied_once_and_redelivery_is_a_no_op(scratch_db, kafka) -> None:
    records = prompt_events(300)
    await produce(kafka, records)
    async with running_consumer(scratch_db, kafka):
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 300))
        # A relay that crashed between publish and mark re-sends the same events.
        await produce(kafka, records)
        await wait_until(lambda: _equals(stored_offsets(scratch_db), 600))
    assert await count_rows(scratch_db, applied) == 300
    async with scratch_db.sessions() as session:
        distinct = await session.scalar(select(func.count(func.distinct(applied.c.event_id))))
    assert distinct == 300


async def test_restart_resumes_from_stored_offsets_without_reapplying(scratch_db, kafka) -> None:
    await produce(kafka, prompt_events(100))
    async with running_consumer(scratch_db, kafka):
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 100))
    await produce(kafka, prompt_events(50))
    async with running_consumer(scratch_db, kafka):
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 150))
        await asyncio.sleep(0.5)
    assert await count_rows(scratch_db, applied) == 150


async def test_poison_events_go_to_the_dlq_and_the_consumer_goes_on(scratch_db, kafka) -> None:
    before = prompt_events(5)
    poison = prompt_events(1, name="poison")
    after = prompt_events(5)
    await produce(kafka, before + poison + after)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:  # an undecodable record: no CloudEvents headers at all
        await producer.send_and_wait(kafka.topic(PROMPT_EVENTS), b"not json", key=b"x")
    finally:
        await producer.stop()

    async with running_consumer(scratch_db, kafka):
        await wait_until(lambda: _equals(count_rows(scratch_db, dead_letters), 2))
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 10))

    dead = await read_topic(kafka, dlq_topic(PROMPT_EVENTS), 2, settle=0.5)
    assert len(dead) == 2  # each poison event once, with the error in its headers
    assert {r.envelope.id for r in dead} == {poison[0][1].id, uuid.UUID(int=0)}
    assert all(dict(r.headers).get("dlq_error") for r in dead)
    assert b"not json" in {r.value for r in dead}
    async with scratch_db.sessions() as session:
        errors = (await session.execute(select(dead_letters.c.error))).scalars().all()
    assert any("handler failed" in e for e in errors)
    assert any("undecodable" in e for e in errors)


async def test_two_consumers_in_one_group_share_the_work_exactly_once(scratch_db, kafka) -> None:
    await produce(kafka, prompt_events(400))
    async with running_consumer(scratch_db, kafka):
        await wait_until(lambda: _at_least(count_rows(scratch_db, applied), 1))
        # A second member joins mid-stream: the group rebalances while events flow.
        async with running_consumer(scratch_db, kafka):
            await produce(kafka, prompt_events(400))
            await wait_until(lambda: _equals(count_rows(scratch_db, applied), 800))
            await asyncio.sleep(1.0)
    assert await count_rows(scratch_db, applied) == 800
    async with scratch_db.sessions() as session:
        distinct = await session.scalar(select(func.count(func.distinct(applied.c.event_id))))
    assert distinct == 800
