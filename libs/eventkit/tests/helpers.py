"""Helpers shared by the consumer and relay tests: a recording projection and polling."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import PromptCreated
from promptworks_eventkit.consumer import ConsumerRunner
from promptworks_eventkit.kafka import create_producer
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import EventRouter
from promptworks_eventkit.settings import KafkaSettings
from promptworks_eventkit.tables import consumer_offsets
from tests.support.kafka import envelope_for

from .conftest import applied

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
async def running_consumer(
    scratch_db,
    kafka: KafkaSettings,
    asynchronous_commit: bool = False,
    transaction_settings: dict[str, str] | None = None,
    handler=record_applies,
    stall_seconds: float | None = None,
) -> AsyncIterator[ConsumerRunner]:
    producer: AIOKafkaProducer = create_producer(kafka, "consumer-test")
    await producer.start()
    router = EventRouter({PromptCreated: handler})
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
        asynchronous_commit=asynchronous_commit,
        transaction_settings=transaction_settings,
        stall_seconds=stall_seconds,
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


def restarts(reason: str) -> float:
    """How often the test consumer replaced its Kafka client, by why (ADR 0034)."""
    sample = REGISTRY.get_sample_value(
        "promptworks_consumer_restarts_total", {"consumer": CONSUMER, "reason": reason}
    )
    return sample or 0.0


def gaps_refused() -> float:
    """Fetches the test consumer refused for not starting at its stored offsets (ADR 0035)."""
    sample = REGISTRY.get_sample_value(
        "promptworks_consumer_gaps_refused_total", {"consumer": CONSUMER}
    )
    return sample or 0.0


async def _equals(value, expected: int) -> bool:
    return await value == expected


async def _at_least(value, expected: int) -> bool:
    return await value >= expected
