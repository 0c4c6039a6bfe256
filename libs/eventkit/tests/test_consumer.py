"""Consumer runner guarantees on real Kafka and PostgreSQL: exactly once in effect."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import PromptCreated
from promptworks_contracts.topics import PROMPT_EVENTS, dlq_topic
from promptworks_eventkit.consumer import ConsumerRunner, ReceivedEvent
from promptworks_eventkit.kafka import create_producer
from promptworks_eventkit.router import EventRouter
from promptworks_eventkit.settings import KafkaSettings
from promptworks_eventkit.tables import consumer_offsets, dead_letters
from tests.support.kafka import envelope_for, produce, read_topic

from .conftest import applied

pytestmark = pytest.mark.integration

CONSUMER = "tests.projection"


async def record_applies(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    for event in events:
        assert isinstance(event.event, PromptCreated)
        if event.event.name == "poison":
            raise ValueError("this event breaks the projection")
    await session.execute(
        insert(applied),
        [
            {
                "event_id": str(e.envelope.id),
                "stream_id": e.envelope.subject,
                "version": e.envelope.streamversion,
                "consumer": CONSUMER,
            }
            for e in events
        ],
    )


@contextlib.asynccontextmanager
async def running_consumer(scratch_db, kafka: KafkaSettings) -> AsyncIterator[ConsumerRunner]:
    producer: AIOKafkaProducer = create_producer(kafka, "consumer-test")
    await producer.start()
    router = EventRouter({PromptCreated: record_applies})
    runner = ConsumerRunner(
        name=CONSUMER,
        topics=router.topics,
        handles=router.handles,
        handler=router,
        sessions=scratch_db.sessions,
        kafka=kafka,
        producer=producer,
        max_records=500,
        retry_backoff=0.01,
    )
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()


def prompt_events(count: int, name: str = "p") -> list:
    records = []
    for _ in range(count):
        event = PromptCreated(prompt_id=uuid.uuid4(), name=name)
        records.append((event, envelope_for(event, 1)))
    return records


async def wait_until(predicate, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def count_rows(scratch_db, table) -> int:
    async with scratch_db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def stored_offsets(scratch_db) -> int:
    async with scratch_db.sessions() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(consumer_offsets.c.next_offset), 0))
        )
    return int(total or 0)


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


async def _equals(value, expected: int) -> bool:
    return await value == expected


async def _at_least(value, expected: int) -> bool:
    return await value >= expected
