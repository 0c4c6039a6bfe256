"""Dead letters on real Kafka and PostgreSQL: listed with their reason, replayed after a fix
through the consumer's own path, exactly once in effect, and kept (marked) once replayed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import PromptCreated
from promptworks_contracts.topics import PROMPT_EVENTS
from promptworks_eventkit.consumer import ConsumerRunner
from promptworks_eventkit.dead_letters import (
    AlreadyReplayedError,
    ConsumerPath,
    DeadLetters,
    ReplayFailedError,
)
from promptworks_eventkit.fence import Fence, checkpoint_fence
from promptworks_eventkit.kafka import create_producer
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import EventRouter
from promptworks_eventkit.settings import KafkaSettings
from promptworks_eventkit.tables import consumer_stream_positions, dead_letters
from tests.support.kafka import envelope_for, produce

from .conftest import applied
from .helpers import _equals, count_rows, prompt_events, wait_until

pytestmark = pytest.mark.integration

CONSUMER = "tests.dead-letters"
SWITCH_KEY = 7_202_611


class Projection:
    """Refuses events named ``broken`` until fixed, like a projection with a bug."""

    def __init__(self) -> None:
        self.fixed = False

    async def __call__(self, session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
        for event in events:
            assert isinstance(event.event, PromptCreated)
            if event.event.name == "broken" and not self.fixed:
                raise ValueError("the projection cannot handle this yet")
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
async def consuming(
    scratch_db, kafka: KafkaSettings, projection: Projection, fence: Fence | None = None
) -> AsyncIterator[DeadLetters]:
    producer: AIOKafkaProducer = create_producer(kafka, "dead-letter-test")
    await producer.start()
    router = EventRouter({PromptCreated: projection})
    runner = ConsumerRunner(
        name=CONSUMER,
        topics=router.topics,
        handles=router.handles,
        handler=router,
        sessions=scratch_db.sessions,
        kafka=kafka,
        producer=producer,
        retry_backoff=0.01,
    )
    task = asyncio.create_task(runner.run())
    try:
        paths = {CONSUMER: ConsumerPath(router.handles, router, fence)}
        yield DeadLetters(scratch_db.sessions, paths)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()


async def test_a_dead_letter_is_replayed_once_after_the_fix_and_kept(scratch_db, kafka) -> None:
    broken = prompt_events(1, name="broken")
    # A later event of the same stream: applied before the replay, so the replayed event must
    # not be skipped as "older than the stream's position".
    follow_up = PromptCreated(prompt_id=broken[0][0].prompt_id, name="later")
    later = [(follow_up, envelope_for(follow_up, 2))]
    await produce(kafka, [*prompt_events(3), *broken, *later])
    projection = Projection()
    async with consuming(scratch_db, kafka, projection) as letters:
        await wait_until(lambda: _equals(count_rows(scratch_db, dead_letters), 1))
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 4))

        [letter], total = await letters.page()
        assert total == 1 and letter.status == "open"
        assert letter.event_id == str(broken[0][1].id)
        assert "the projection cannot handle this yet" in letter.error

        # Before the fix, a replay fails and changes nothing but the letter's replay_error.
        with pytest.raises(ReplayFailedError):
            await letters.replay(letter.id, "ops")
        still = await letters.get(letter.id)
        assert still.status == "open" and "cannot handle" in (still.replay_error or "")
        assert await count_rows(scratch_db, applied) == 4

        projection.fixed = True
        # Two operators replay it at once: it is applied once.
        outcomes = await asyncio.gather(
            letters.replay(letter.id, "ops"),
            letters.replay(letter.id, "ops"),
            return_exceptions=True,
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["AlreadyReplayedError", "DeadLetter"]
        with pytest.raises(AlreadyReplayedError):
            await letters.replay(letter.id, "ops")

        replayed = await letters.get(letter.id)
        assert replayed.status == "replayed" and replayed.replayed_by == "ops"
        assert replayed.replay_error is None
        assert await letters.page() == ([], 0)  # no longer open ...
        assert (await letters.page(status="replayed"))[1] == 1  # ... but kept
    async with scratch_db.sessions() as session:
        ids = (await session.execute(select(applied.c.event_id))).scalars().all()
        position = await session.scalar(
            select(consumer_stream_positions.c.version).where(
                consumer_stream_positions.c.stream_id == broken[0][1].subject
            )
        )
        count = await session.scalar(select(func.count()).select_from(dead_letters))
    assert ids.count(str(broken[0][1].id)) == 1 and len(ids) == 5
    assert position == 2  # never moved back by the replay
    assert count == 1


async def test_a_resent_copy_of_a_dead_letter_is_a_duplicate_only_the_replay_applies(
    scratch_db, kafka
) -> None:
    """A relay may re-send a poison event after the fix is deployed. That copy is skipped (the
    dead letter moved its stream's position), so the operator's replay applies it, once."""
    broken = prompt_events(1, name="broken")
    await produce(kafka, broken)
    projection = Projection()
    async with consuming(scratch_db, kafka, projection) as letters:
        await wait_until(lambda: _equals(count_rows(scratch_db, dead_letters), 1))
        projection.fixed = True
        await produce(kafka, [*broken, *prompt_events(1)])  # the re-sent copy, then a marker
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 1))
        assert await count_rows(scratch_db, applied) == 1  # the marker only, not the copy
        [letter], _ = await letters.page()
        await letters.replay(letter.id, "ops")
    async with scratch_db.sessions() as session:
        ids = (await session.execute(select(applied.c.event_id))).scalars().all()
    assert ids.count(str(broken[0][1].id)) == 1 and len(ids) == 2


async def test_a_replay_takes_the_consumers_fence_and_waits_for_a_switch(scratch_db, kafka) -> None:
    """While a rebuild's switch holds the fence's lock (exclusively), a replay waits for it,
    as a batch does, then applies the event in the models that are live after it."""
    broken = prompt_events(1, name="broken")
    await produce(kafka, broken)
    projection = Projection()
    async with consuming(scratch_db, kafka, projection, checkpoint_fence(SWITCH_KEY)) as letters:
        await wait_until(lambda: _equals(count_rows(scratch_db, dead_letters), 1))
        projection.fixed = True
        [letter], _ = await letters.page()
        async with scratch_db.sessions() as switch, switch.begin():
            await switch.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SWITCH_KEY})
            replay = asyncio.create_task(letters.replay(letter.id, "ops"))
            await asyncio.sleep(1.0)
            assert not replay.done()  # held back by the switch
            assert await count_rows(scratch_db, applied) == 0
        replayed = await replay
    assert replayed.status == "replayed"
    assert await count_rows(scratch_db, applied) == 1


async def test_an_undecodable_record_stays_open_with_its_reason(scratch_db, kafka) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(kafka.topic(PROMPT_EVENTS), b"not json", key=b"x")
    finally:
        await producer.stop()
    async with consuming(scratch_db, kafka, Projection()) as letters:
        await wait_until(lambda: _equals(count_rows(scratch_db, dead_letters), 1))
        [letter], _ = await letters.page(status="all")
        assert letter.error.startswith("undecodable")
        with pytest.raises(ReplayFailedError, match="undecodable"):
            await letters.replay(letter.id, "ops")
        assert (await letters.get(letter.id)).status == "open"
