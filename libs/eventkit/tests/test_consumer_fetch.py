"""How soon a consumer fetches again after a slow batch, on real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import PromptCreated
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.settings import KafkaSettings
from tests.support.kafka import envelope_for, produce

from .helpers import prompt_events, record_applies, running_consumer, wait_until

pytestmark = pytest.mark.integration

SLOW_BATCH_SECONDS = 1.5
CONTROL_TRIES = 3


async def test_an_event_behind_a_slow_batch_is_fetched_without_waiting_out_idle_partitions(
    scratch_db, kafka
) -> None:
    """aiokafka fetches a partition again only once its fetched records are consumed; when they
    stay unconsumed for 100 ms (a slow batch) it fetches the node's other partitions alone, and
    the partition, once consumed, waits for that fetch, which idle partitions hold for
    ``fetch_max_wait_ms`` (aiokafka's default: 500 ms; ADR 0026's ninth-session addendum). With
    the settings' default an event behind a slow batch is handled soon after it; with a long
    wait (the control) it waits that fetch out.

    The control depends on when aiokafka's fetches go out relative to the produced events; on
    a loaded machine a fetch may return the follower before the idle fetch is sent, and then
    nothing stalls. So it has three tries: the stall must show in at least one."""
    assert await stall_after_a_slow_batch(scratch_db, kafka) < 0.75
    long_wait = kafka.model_copy(update={"fetch_max_wait_ms": 4000})
    stalls = []
    for _ in range(CONTROL_TRIES):
        stalls.append(await stall_after_a_slow_batch(scratch_db, long_wait))
        if stalls[-1] > 2.0:
            break
    assert max(stalls) > 2.0, stalls


async def stall_after_a_slow_batch(scratch_db, kafka: KafkaSettings) -> float:
    """Seconds from the end of a slow batch to the handling of an event that arrived on a
    partition whose records were fetched, and left unconsumed, during that batch."""
    slow_started = asyncio.Event()
    slow_ended: list[float] = []
    handled: dict[uuid.UUID, float] = {}

    async def handler(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
        for event in events:
            handled[event.envelope.id] = time.monotonic()
        if any(getattr(event.event, "name", "") == "slow" for event in events):
            slow_started.set()
            await asyncio.sleep(SLOW_BATCH_SECONDS)
            slow_ended.append(time.monotonic())
        await record_applies(session, events)

    follower = PromptCreated(prompt_id=uuid.uuid4(), name="follower")
    fetched_during, arriving_after = envelope_for(follower, 1), envelope_for(follower, 2)
    async with running_consumer(scratch_db, kafka, handler=handler):
        await produce(kafka, prompt_events(1, name="slow"))
        async with asyncio.timeout(30):
            await slow_started.wait()
        # Fetched at once (the consumer's fetch is in flight), then left unconsumed: after
        # 100 ms aiokafka fetches the other partitions alone.
        await produce(kafka, [(follower, fetched_during)])
        await asyncio.sleep(0.3)
        # Same key, same partition: it can only come with the next fetch of that partition.
        await produce(kafka, [(follower, arriving_after)])
        await wait_until(lambda: _handled(handled, arriving_after.id))
    assert len(slow_ended) == 1 and fetched_during.id in handled
    return handled[arriving_after.id] - slow_ended[0]


async def _handled(handled: dict[uuid.UUID, float], event_id: uuid.UUID) -> bool:
    return event_id in handled
