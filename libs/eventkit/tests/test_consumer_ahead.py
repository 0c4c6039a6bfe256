"""The batch a consumer fetches ahead (while the one before it commits), on real Kafka and
PostgreSQL: filtered by what that one committed, dropped and read again across a seek."""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import PromptCreated
from promptworks_eventkit.consumer_batch import FetchedBatch, dropped
from promptworks_eventkit.gc_pause import gc_paused
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.tables import consumer_offsets, consumer_stream_positions
from tests.support.kafka import envelope_for, produce

from .conftest import applied
from .helpers import (
    _equals,
    count_rows,
    prompt_events,
    record_applies,
    running_consumer,
    stored_offsets,
    wait_until,
)

pytestmark = pytest.mark.integration


async def test_a_batch_fetched_ahead_across_a_seek_back_is_dropped_and_read_again(
    scratch_db, kafka
) -> None:
    """An asynchronous consumer (ADR 0026) whose commits were lost seeks back to the stored
    offsets; the batch fetched ahead before that seek holds later records and must not be
    applied (it would skip the lost ones): it is dropped and read again from the stored
    offsets. Here batch N (one event) is held open while two more batches arrive; the commits
    of every partition but N's are then lost (deleted by hand, the way a crash leaves them).
    N commits, N+1 (fetched ahead during N) finds the loss and seeks back, N+2 (fetched ahead
    during N+1, before the seek) is dropped. Every event ends applied exactly once."""
    held, release = asyncio.Event(), asyncio.Event()
    partition_of: dict[str, int] = {}

    async def handler(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
        for event in events:
            partition_of[event.envelope.subject] = event.partition
        if any(getattr(e.event, "name", "") == "hold" for e in events):
            held.set()
            await release.wait()
        await record_applies(session, events)

    await produce(kafka, prompt_events(100))
    async with running_consumer(
        scratch_db, kafka, asynchronous_commit=True, handler=handler
    ) as runner:
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 100))
        hold = PromptCreated(prompt_id=uuid.uuid4(), name="hold")
        await produce(kafka, [(hold, envelope_for(hold, 1))])
        async with asyncio.timeout(30):
            await held.wait()
        await produce(kafka, prompt_events(50))  # fetched ahead while N is held: N+1
        await asyncio.sleep(1.0)
        await produce(kafka, prompt_events(50))  # buffered by aiokafka meanwhile: N+2
        await asyncio.sleep(1.0)
        kept = partition_of[str(hold.prompt_id)]
        lost = [stream for stream, partition in partition_of.items() if partition != kept]
        assert lost, "the events spread over several partitions"
        async with scratch_db.sessions() as session, session.begin():
            await session.execute(delete(applied).where(applied.c.stream_id.in_(lost)))
            await session.execute(
                delete(consumer_stream_positions).where(
                    consumer_stream_positions.c.stream_id.in_(lost)
                )
            )
            await session.execute(
                delete(consumer_offsets).where(consumer_offsets.c.partition != kept)
            )
        release.set()
        await wait_until(lambda: _equals(stored_offsets(scratch_db), 201))
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 201))
        await asyncio.sleep(0.5)
        assert runner.dropped >= 1, "the batch fetched ahead across the seek was dropped"
    async with scratch_db.sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(applied))
        distinct = await session.scalar(select(func.count(func.distinct(applied.c.event_id))))
    assert (rows, distinct) == (201, 201)


async def test_a_batch_fetched_ahead_and_never_applied_lets_the_collector_go() -> None:
    """A consumer that stops (or fails) with a batch fetched ahead lets go of its pause of the
    collector: otherwise the collector would stay off for the life of the process."""
    assert gc.isenabled()
    fetched = FetchedBatch(generation=0, seeks=0)
    fetched.pause.enter_context(gc_paused())

    async def fetch() -> FetchedBatch | None:
        return fetched

    task = asyncio.create_task(fetch())
    await asyncio.wait([task])
    assert not gc.isenabled()
    await dropped(task)
    assert gc.isenabled()
