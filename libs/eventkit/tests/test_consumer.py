"""Consumer runner guarantees on real Kafka and PostgreSQL: exactly once in effect."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import PromptCreated
from promptworks_contracts.topics import PROMPT_EVENTS, dlq_topic
from promptworks_eventkit import gc_pause
from promptworks_eventkit.consumer import ConsumerRunner
from promptworks_eventkit.gc_pause import gc_paused
from promptworks_eventkit.kafka import create_producer
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import EventRouter
from promptworks_eventkit.tables import consumer_offsets, consumer_stream_positions, dead_letters
from tests.support.kafka import produce, read_topic

from .conftest import applied
from .helpers import (
    CONSUMER,
    _equals,
    count_rows,
    gaps_refused,
    prompt_events,
    record_applies,
    restarts,
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
        # Kafka's group offsets (dashboards, autoscalers) follow, at most a second apart and
        # once the consumer is idle: never left behind the last batch.
        await wait_until(lambda: _equals(group_offsets(kafka), 600))
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


async def test_events_larger_than_the_fetch_sizes_arrive_whole(scratch_db, kafka) -> None:
    """The fetch sizes bound a consumer's memory in a backlog; they are not message limits: the
    broker answers a fetch's first batch whatever its size (KIP-74). Events of ~300 KB each,
    fetched 64 KB at a time, are all applied, each with its whole description."""
    small_fetches = kafka.model_copy(
        update={"fetch_max_bytes": 64 * 1024, "max_partition_fetch_bytes": 64 * 1024}
    )
    description = "x" * (300 * 1024)
    records = []
    for event, envelope in prompt_events(6):
        records.append((event.model_copy(update={"description": description}), envelope))
    await produce(kafka, records)
    lengths: list[int] = []

    async def whole(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
        lengths.extend(len(e.event.description) for e in events)  # type: ignore[attr-defined]
        await record_applies(session, events)

    async with running_consumer(scratch_db, small_fetches, handler=whole):
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 6))
    async with scratch_db.sessions() as session:
        applied_ids = set(await session.scalars(select(applied.c.event_id)))
    assert applied_ids == {str(envelope.id) for _, envelope in records}
    assert set(lengths) == {len(description)}


async def test_an_asynchronous_consumer_goes_back_when_its_commits_were_lost(
    scratch_db, kafka
) -> None:
    """With ``asynchronous_commit`` a database crash may lose batches already acknowledged
    (ADR 0026; the crash itself is in query-api's ``test_backlog``). Here the loss is made by
    hand, the way a crash leaves it: effects, stream positions and offsets back to an earlier
    commit, behind the consumer's back. It must read the lost events again, idle or not, and
    apply each once."""
    await produce(kafka, prompt_events(100))
    async with running_consumer(scratch_db, kafka, asynchronous_commit=True):
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 100))
        async with scratch_db.sessions() as session, session.begin():
            for table in (applied, consumer_stream_positions, consumer_offsets):
                await session.execute(delete(table))
        # Idle: the next poll finds the stored offsets behind its own and goes back.
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 100))
        async with scratch_db.sessions() as session, session.begin():
            await session.execute(delete(applied).where(applied.c.version == 1))
            await session.execute(delete(consumer_stream_positions))
            await session.execute(delete(consumer_offsets))
        # Again with new events arriving: the first transaction after the loss, a batch's or
        # an idle poll's, finds the stored offsets behind (a batch's is not committed).
        await produce(kafka, prompt_events(50))
        await wait_until(lambda: _equals(stored_offsets(scratch_db), 150))
        await asyncio.sleep(0.5)
    async with scratch_db.sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(applied))
        distinct = await session.scalar(select(func.count(func.distinct(applied.c.event_id))))
    assert (rows, distinct) == (150, 150)


async def test_a_client_positioned_past_the_stored_offsets_skips_nothing(scratch_db, kafka) -> None:
    """The Kafka client fetches from its own position. After an assignment whose seek to the
    stored offsets failed (the database away), that is Kafka's group offset, which runs ahead
    of stored offsets that a crash took back (``asynchronous_commit``). Here the client is
    moved past the stored offset by hand, the way that leaves it: the runner must notice that
    the records do not start at its next offset, go back, and apply every event once."""
    await produce(kafka, prompt_events(30))
    async with running_consumer(scratch_db, kafka) as runner:
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 30))
        client = runner._consumer
        assert client is not None and client.assignment()
        owned = sorted(client.assignment())
        client.pause(*owned)  # the new events wait until the client is moved
        before = await client.end_offsets(owned)
        await produce(kafka, prompt_events(90))
        after = await client.end_offsets(owned)
        busiest = max(owned, key=lambda tp: after[tp] - before[tp])
        assert after[busiest] - before[busiest] >= 5
        refused = gaps_refused()
        client.seek(busiest, before[busiest] + 3)  # three stored-next records passed over
        client.resume(*owned)
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 120))
    assert gaps_refused() >= refused + 1
    async with scratch_db.sessions() as session:
        distinct = await session.scalar(select(func.count(func.distinct(applied.c.event_id))))
    assert (await count_rows(scratch_db, applied), distinct) == (120, 120)


async def test_an_idle_consumer_whose_seek_failed_seeks_again(scratch_db, kafka) -> None:
    """A seek on assignment that failed (the database away) leaves the partitions' next offsets
    unknown. With no new event to fetch, the idle loop seeks again by itself (not a minute
    later, through the watchdog), and what follows is applied once."""
    await produce(kafka, prompt_events(20))
    async with running_consumer(scratch_db, kafka) as runner:
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 20))
        assert runner._consumer is not None
        owned = sorted(runner._consumer.assignment())
        failures = restarts("failed")
        runner.forget_positions(owned)  # what the failed seek leaves

        async def known() -> bool:
            return all(tp in runner.positions() for tp in owned)

        await wait_until(known, timeout=10)
        await produce(kafka, prompt_events(10))
        await wait_until(lambda: _equals(count_rows(scratch_db, applied), 30))
        assert restarts("failed") == failures  # sought by the idle loop, not after a crash
    async with scratch_db.sessions() as session:
        distinct = await session.scalar(select(func.count(func.distinct(applied.c.event_id))))
    assert (await count_rows(scratch_db, applied), distinct) == (30, 30)


async def test_a_batchs_transaction_has_its_settings_and_commit_mode_and_no_other_has(
    scratch_db, kafka
) -> None:
    """Set by the batch's bookkeeping statement (``SET LOCAL``): the handler runs with them,
    the next transaction on the same pooled connection does not."""
    seen: list[tuple[str, str]] = []
    show = text("SELECT current_setting('random_page_cost'), current_setting('synchronous_commit')")

    async def handler(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
        seen.append(tuple((await session.execute(show)).one()))

    async with scratch_db.sessions() as session:
        before = tuple((await session.execute(show)).one())
    await produce(kafka, prompt_events(3))
    async with running_consumer(
        scratch_db,
        kafka,
        asynchronous_commit=True,
        transaction_settings={"random_page_cost": "1.7"},
        handler=handler,
    ):
        await wait_until(lambda: _equals(stored_offsets(scratch_db), 3))
    async with scratch_db.sessions() as session:
        after = tuple((await session.execute(show)).one())
    assert seen and set(seen) == {("1.7", "off")}
    assert after == before and before[0] != "1.7"  # the server's own (the test stack's is fast)


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


class Member:
    """One member of the consumer group, recording its name with every event it applies; its
    first batch can be held open to force a rebalance while it is in flight."""

    def __init__(self, name: str, hold_first_batch: bool = False) -> None:
        self.name = name
        self.in_batch = asyncio.Event()
        self.release = asyncio.Event()
        if not hold_first_batch:
            self.release.set()

    async def __call__(self, session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
        self.in_batch.set()
        await self.release.wait()
        await session.execute(
            insert(applied),
            [
                {
                    "event_id": str(e.envelope.id),
                    "stream_id": e.envelope.subject,
                    "version": e.envelope.streamversion,
                    "consumer": self.name,
                }
                for e in events
            ],
        )


@contextlib.asynccontextmanager
async def member(scratch_db, kafka, handler: Member) -> AsyncIterator[ConsumerRunner]:
    producer = create_producer(kafka, f"member-{handler.name}")
    await producer.start()
    router = EventRouter({PromptCreated: handler})
    runner = ConsumerRunner(
        name="tests.rebalance",
        topics=router.topics,
        handles=router.handles,
        handler=router,
        sessions=scratch_db.sessions,
        kafka=kafka,
        producer=producer,
        max_records=50,
    )
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()


async def test_a_rebalance_forced_mid_batch_loses_and_doubles_nothing(scratch_db, kafka) -> None:
    await produce(kafka, prompt_events(400))
    first, second = Member("a", hold_first_batch=True), Member("b")
    async with member(scratch_db, kafka, first) as runner_a:
        async with asyncio.timeout(30):
            await first.in_batch.wait()  # a's first batch is in flight, held open
        assert runner_a.generation == 1
        async with member(scratch_db, kafka, second):
            # b joins: the group rebalances. a hears of it at its next heartbeat (3 s) and its
            # revocation waits for the batch in flight, so the rebalance cannot complete yet.
            await asyncio.sleep(5)
            assert runner_a.generation == 1, "the rebalance waited for the batch in flight"
            assert await count_rows(scratch_db, applied) == 0
            first.release.set()
            async with asyncio.timeout(30):
                while runner_a.generation < 2:  # a was assigned again: the rebalance completed
                    await asyncio.sleep(0.05)
            await produce(kafka, prompt_events(400))
            await wait_until(lambda: _equals(count_rows(scratch_db, applied), 800), timeout=60)
            await asyncio.sleep(1.0)
    async with scratch_db.sessions() as session:
        rows = (await session.execute(select(applied.c.event_id, applied.c.consumer))).all()
    assert len(rows) == len({event_id for event_id, _ in rows}) == 800  # each once
    by_member = Counter(name for _, name in rows)
    assert by_member["a"] > 0 and by_member["b"] > 0, by_member  # both applied work


def test_the_collector_is_paused_per_batch_and_restored_as_it_was() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # a second consumer's batch interleaved with the first
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first batch is still running
    assert gc.isenabled()
    gc.disable()  # a process that runs without the collector keeps it off
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_old_pause_is_not_extended_by_the_batches_that_overlap_it(monkeypatch) -> None:
    """Tasks whose batches always overlap (a consumer and workers) cannot keep the collector
    off for good: past ``JOIN_SECONDS`` a new batch runs within the pause without extending it."""
    assert gc.isenabled()
    with contextlib.ExitStack() as first:
        first.enter_context(gc_paused())
        with gc_paused():  # joins: the pause is young
            pass
        assert not gc.isenabled()
        monkeypatch.setattr(gc_pause, "JOIN_SECONDS", 0.0)
        late = contextlib.ExitStack()
        late.enter_context(gc_paused())  # the pause is old: not joined
        assert not gc.isenabled()
    assert gc.isenabled()  # the first batch ended: collected again, the late one still running
    late.close()
    assert gc.isenabled()
    with gc_paused():  # and the next pause starts afresh
        assert not gc.isenabled()
    assert gc.isenabled()


async def group_offsets(kafka) -> int:
    """The sum of the consumer group's committed offsets on the broker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(kafka.topic(CONSUMER))
    finally:
        await admin.close()
    return sum(meta.offset for meta in committed.values() if meta.offset > 0)
