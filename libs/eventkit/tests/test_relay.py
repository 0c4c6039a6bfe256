"""Outbox relay guarantees on real PostgreSQL and Kafka.

- A transaction that commits late (its outbox position is lower than rows already published)
  is still published: the relay reads the queue's rows, not "rows after the last position".
- kill -9 between publish and mark loses nothing; the re-sent duplicates carry the same event
  ids and stream versions, so a consumer applies each event exactly once.
- Rows sent as record batches (one per topic and partition) land where ``send`` would put
  them (the default partitioner's choice for the key), in stream order, with their headers,
  also when a batch fills and the next one starts; they leave without the producer's linger.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import psutil
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2
from sqlalchemy import select

from promptworks_contracts.events import PromptArchived, PromptCreated
from promptworks_contracts.topics import PROMPT_EVENTS
from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.kafka import create_producer
from promptworks_eventkit.messages import MessageContext
from promptworks_eventkit.relay import RELAY_LOCK_KEY, OutboxRelay
from promptworks_eventkit.settings import KafkaSettings
from promptworks_eventkit.tracing import set_enabled
from tests.support.infra import REPO
from tests.support.kafka import read_topic

from .conftest import applied
from .helpers import (
    _equals,
    count_rows,
    running_consumer,
    stored_offsets,
    wait_until,
)

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def running_relay(
    dsn: str,
    kafka: KafkaSettings,
    renew: Callable[[], Awaitable[AIOKafkaProducer]] | None = None,
) -> AsyncIterator[OutboxRelay]:
    producer: AIOKafkaProducer = create_producer(kafka, "relay-test")
    await producer.start()
    relay = OutboxRelay(dsn, producer, poll_interval=0.2, renew=renew)
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()


async def append_prompts(scratch_db, store: EventStore, count: int) -> list[str]:
    streams = [str(uuid.uuid4()) for _ in range(count)]
    async with scratch_db.sessions() as session, session.begin():
        for stream in streams:
            event = PromptCreated(prompt_id=uuid.UUID(stream), name=stream)
            await store.append(session, stream, [event], 0, MessageContext())
    return streams


async def unpublished(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval("SELECT count(*) FROM outbox")  # a queue: all unpublished
        )
    finally:
        await connection.close()


async def test_late_committing_transaction_is_not_skipped(scratch_db, kafka: KafkaSettings) -> None:
    store = EventStore("/tests", kafka)
    dsn = asyncpg_dsn(scratch_db.url)
    late_stream, early_stream = uuid.uuid4(), uuid.uuid4()

    async with running_relay(dsn, kafka):
        async with scratch_db.sessions() as writer_a:
            await writer_a.begin()
            # Writer A takes the lower position and holds its transaction open ...
            await store.append(
                writer_a,
                str(late_stream),
                [PromptCreated(prompt_id=late_stream, name="late")],
                0,
                MessageContext(),
            )
            # ... while writer B appends, commits and is published.
            async with scratch_db.sessions() as writer_b, writer_b.begin():
                await store.append(
                    writer_b,
                    str(early_stream),
                    [PromptCreated(prompt_id=early_stream, name="early")],
                    0,
                    MessageContext(),
                )
            first = await read_topic(kafka, PROMPT_EVENTS, 1)
            assert first[0].envelope.subject == str(early_stream)
            await writer_a.commit()  # A commits late, below the position already published

        records = await read_topic(kafka, PROMPT_EVENTS, 2, settle=1.0)
    assert sorted(r.envelope.subject for r in records) == sorted(
        [str(early_stream), str(late_stream)]
    )
    assert await unpublished(dsn) == 0


async def test_record_batches_keep_partitions_order_and_headers(
    scratch_db, kafka: KafkaSettings
) -> None:
    store = EventStore("/tests", kafka)
    dsn = asyncpg_dsn(scratch_db.url)
    streams = [uuid.uuid4() for _ in range(12)]
    ids: dict[uuid.UUID, list[uuid.UUID]] = {s: [] for s in streams}
    for version in range(4):  # interleaved: each transaction appends to every stream
        async with scratch_db.sessions() as session, session.begin():
            for stream in streams:
                event = (
                    PromptCreated(prompt_id=stream, name="n" * 150)
                    if version == 0
                    else PromptArchived(prompt_id=stream, actor="a" * 400)
                )
                [envelope] = await store.append(
                    session, str(stream), [event], version, MessageContext()
                )
                ids[stream].append(envelope.id)
    # A 1 KiB batch holds two or three of these records: the "batch full" path runs often.
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, enable_idempotence=True, max_batch_size=1024
    )
    await producer.start()
    try:
        relay = OutboxRelay(dsn, producer)
        connection = await asyncpg.connect(dsn)
        try:
            assert await relay.publish_pending(connection) == 48
        finally:
            await connection.close()
        partitions = sorted(await producer.partitions_for(kafka.topic(PROMPT_EVENTS)))
    finally:
        await producer.stop()
    assert len(partitions) > 1
    records = await read_topic(kafka, PROMPT_EVENTS, 48, settle=0.5)
    assert len(records) == 48
    for stream in streams:
        mine = sorted((r for r in records if r.key == str(stream).encode()), key=lambda r: r.offset)
        expected = partitions[(murmur2(str(stream).encode()) & 0x7FFFFFFF) % len(partitions)]
        assert {r.partition for r in mine} == {expected}
        assert [r.envelope.streamversion for r in mine] == [1, 2, 3, 4]
        assert [r.envelope.id for r in mine] == ids[stream]
        assert all(r.envelope.subject == str(stream) for r in mine)
    assert await unpublished(dsn) == 0


async def test_a_record_batch_does_not_wait_out_the_producers_linger(
    scratch_db, kafka: KafkaSettings
) -> None:
    """The relay hands the producer whole batches: closed, they leave at once. Left open, each
    waited ``linger_ms`` (5 ms in the services) for records nobody would add, and the relay
    with it. Here a 3 s linger would show."""
    store = EventStore("/tests", kafka)
    dsn = asyncpg_dsn(scratch_db.url)
    await append_prompts(scratch_db, store, 3)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, enable_idempotence=True, linger_ms=3000
    )
    await producer.start()
    try:
        await producer.partitions_for(kafka.topic(PROMPT_EVENTS))  # metadata, not timed
        connection = await asyncpg.connect(dsn)
        try:
            started = time.monotonic()
            assert await OutboxRelay(dsn, producer).publish_pending(connection) == 3
            assert time.monotonic() - started < 1.5
        finally:
            await connection.close()
    finally:
        await producer.stop()
    assert len(await read_topic(kafka, PROMPT_EVENTS, 3, settle=0.2)) == 3


@pytest.mark.parametrize("traced", [False, True], ids=["record-batches", "traced-sends"])
async def test_the_message_is_the_stored_json_byte_for_byte(
    scratch_db, kafka: KafkaSettings, traced: bool
) -> None:
    """The payload is stored once (``events.data``, ``json``, ADR 0028): the record's value is
    the text the service serialised, key order and non-ASCII included, on both send paths."""
    store = EventStore("/tests", kafka)
    dsn = asyncpg_dsn(scratch_db.url)
    stream = uuid.uuid4()
    batch = [PromptCreated(prompt_id=stream, name='é "q"'), PromptArchived(prompt_id=stream)]
    async with scratch_db.sessions() as session, session.begin():
        envelopes = await store.append(session, str(stream), batch, 0, MessageContext())
    producer: AIOKafkaProducer = create_producer(kafka, "relay-test")
    await producer.start()
    set_enabled(traced)
    try:
        connection = await asyncpg.connect(dsn)
        try:
            assert await OutboxRelay(dsn, producer).publish_pending(connection) == 2
        finally:
            await connection.close()
    finally:
        set_enabled(False)
        await producer.stop()
    records = await read_topic(kafka, PROMPT_EVENTS, 2, settle=0.5)
    assert [r.value for r in records] == [event.model_dump_json().encode() for event in batch]
    assert [r.envelope.id for r in records] == [e.id for e in envelopes]
    assert [r.headers for r in records] == [e.to_kafka_headers() for e in envelopes]
    assert await unpublished(dsn) == 0


async def start_relay_process(scratch_db, kafka: KafkaSettings) -> asyncio.subprocess.Process:
    """The relay as its own OS process (prompt-service's `relay` command), so it can be killed."""
    env = {
        **os.environ,
        "DATABASE_URL": scratch_db.url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "prompt_service",
        "relay",
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def test_only_one_relay_is_active(scratch_db, kafka: KafkaSettings) -> None:
    dsn = asyncpg_dsn(scratch_db.url)
    async with running_relay(dsn, kafka) as first, running_relay(dsn, kafka) as second:
        for _ in range(100):
            if first.active or second.active:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert [first.active, second.active].count(True) == 1


async def lock_holder(dsn: str, relays: list[asyncio.subprocess.Process]) -> int | None:
    """The relay process holding the relay lock: its backend's client port is one of the
    process's own sockets."""
    connection = await asyncpg.connect(dsn)
    try:
        port = await connection.fetchval(
            "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.objid = $1 AND l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            RELAY_LOCK_KEY,
        )
    finally:
        await connection.close()
    for relay in relays:
        if relay.returncode is not None:
            continue  # killed and reaped: it holds nothing (and psutil cannot see it)
        ports = {c.laddr.port for c in psutil.Process(relay.pid).net_connections("tcp")}
        if port in ports:
            return relay.pid
    return None


async def test_a_standby_relay_takes_over_when_the_active_one_is_killed(
    scratch_db, kafka: KafkaSettings
) -> None:
    store = EventStore("/tests", kafka)
    dsn = asyncpg_dsn(scratch_db.url)
    relays = [await start_relay_process(scratch_db, kafka) for _ in range(2)]
    try:
        first = await append_prompts(scratch_db, store, 20)
        await wait_until(lambda: _equals(unpublished(dsn), 0), timeout=60)
        active = await lock_holder(dsn, relays)
        assert active is not None, "one relay holds the lock"
        [standby] = [r for r in relays if r.pid != active]

        killed = next(r for r in relays if r.pid == active)
        killed.send_signal(signal.SIGKILL)
        await killed.wait()
        second = await append_prompts(scratch_db, store, 30)
        # PostgreSQL drops the dead relay's session and its lock; the standby, polling for
        # the lock, takes over and publishes what was written meanwhile.
        await wait_until(lambda: _equals(unpublished(dsn), 0), timeout=60)
        assert await lock_holder(dsn, relays) == standby.pid
    finally:
        for relay in relays:
            if relay.returncode is None:
                relay.send_signal(signal.SIGKILL)
                await relay.wait()

    records = await read_topic(kafka, PROMPT_EVENTS, 50, settle=0.5)
    assert {r.envelope.subject for r in records} == set(first + second)
    duplicates = len(records) - len({r.envelope.id for r in records})
    assert duplicates == 0, "the kill struck between batches: nothing was re-sent"


async def test_kill_9_between_publish_and_mark_loses_and_duplicates_nothing(
    scratch_db, kafka: KafkaSettings
) -> None:
    store = EventStore("/tests", kafka)
    dsn = asyncpg_dsn(scratch_db.url)
    streams = await append_prompts(scratch_db, store, 50)

    # Lock the outbox rows: the relay can read and publish them, but its DELETE (the mark)
    # blocks. That pins it exactly between "broker acknowledged" and "marked".
    blocker = await asyncpg.connect(dsn)
    transaction = blocker.transaction()
    await transaction.start()
    await blocker.fetch("SELECT position FROM outbox FOR UPDATE")

    relay = await start_relay_process(scratch_db, kafka)
    published = await read_topic(kafka, PROMPT_EVENTS, 50)
    observer = await asyncpg.connect(dsn)
    for _ in range(200):
        waiting = await observer.fetch(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'DELETE FROM outbox%'"
        )
        if waiting:
            break
        await asyncio.sleep(0.05)
    assert len(waiting) == 1, "the relay should be blocked marking rows it already published"

    relay.send_signal(signal.SIGKILL)
    await relay.wait()
    # The dead client's backend would otherwise finish the DELETE once the lock is released;
    # a crashed host's connection dies with it, so end the backend as the crash would.
    await observer.execute("SELECT pg_terminate_backend($1)", waiting[0]["pid"])
    await transaction.rollback()
    await blocker.close()
    assert await unpublished(dsn) == 50  # published, but never marked: nothing lost

    restarted = await start_relay_process(scratch_db, kafka)
    try:
        for _ in range(200):
            if await unpublished(dsn) == 0:
                break
            await asyncio.sleep(0.05)
        assert await unpublished(dsn) == 0
    finally:
        restarted.send_signal(signal.SIGKILL)
        await restarted.wait()
        await observer.close()

    records = await read_topic(kafka, PROMPT_EVENTS, 100, settle=0.5)
    assert len(records) == 100  # every event twice on Kafka: at-least-once ...
    assert {r.envelope.subject for r in records} == set(streams)
    assert {r.envelope.id for r in records} == {r.envelope.id for r in published}
    # ... and exactly once in the read model: the consumer skips the re-sent copies.
    async with running_consumer(scratch_db, kafka):
        await wait_until(lambda: _equals(stored_offsets(scratch_db), 100))
    assert await count_rows(scratch_db, applied) == 50
    async with scratch_db.sessions() as session:
        rows = (await session.execute(select(applied.c.stream_id))).scalars().all()
    assert sorted(rows) == sorted(streams)


async def test_a_producer_the_broker_refuses_is_replaced_and_nothing_is_lost(
    scratch_db, kafka: KafkaSettings
) -> None:
    """aiokafka fails a batch that waited out its timeout for a partition without a leader
    after giving it sequence numbers, and never resets them: from then on the broker refuses
    every batch of that partition (``OutOfOrderSequenceNumber``) for the producer's life.
    That state is made here directly, as the expired batch leaves it (its sequences taken,
    nothing written). The relay replaces the producer and publishes every row once, in order."""
    store = EventStore("/tests", kafka)
    dsn = asyncpg_dsn(scratch_db.url)
    made: list[AIOKafkaProducer] = []

    async def renew() -> AIOKafkaProducer:
        producer = create_producer(kafka, "relay-test-renewed")
        await producer.start()
        made.append(producer)
        return producer

    before = renewals()
    async with running_relay(dsn, kafka, renew=renew) as relay:
        first = await append_prompts(scratch_db, store, 10)
        await wait_until(lambda: _equals(unpublished(dsn), 0))
        original = relay._producer
        topic = kafka.topic(PROMPT_EVENTS)
        for partition in await original.partitions_for(topic):
            original._txn_manager.increment_sequence_number(TopicPartition(topic, partition), 3)
        later = await append_prompts(scratch_db, store, 10)
        await wait_until(lambda: _equals(unpublished(dsn), 0))
        assert relay._producer is not original and made == [relay._producer]
    assert renewals() == before + 1
    # Every row on Kafka. A partition the old producer had not written to may have taken its
    # batch (the broker checks no sequence for a producer new to it), so the new producer's
    # pass sent those rows again: copies, which consumers skip, never a gap.
    records = await read_topic(kafka, PROMPT_EVENTS, 20, settle=0.5)
    subjects = Counter(r.envelope.subject for r in records)
    assert set(subjects) == set(first + later) and set(subjects.values()) <= {1, 2}
    assert all(subjects[stream] == 1 for stream in first)  # published before the fault


def renewals() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("promptworks_outbox_producer_renewals_total") or 0.0


async def test_backlog_and_relay_latency_are_measured(scratch_db, kafka: KafkaSettings) -> None:
    """The backlog is counted from the table (not from what one pass fetched), and every
    published row's latency is observed; what the alert rules read (ADR 0007)."""
    from prometheus_client import REGISTRY

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    store = EventStore("/tests", kafka)
    dsn = asyncpg_dsn(scratch_db.url)
    await append_prompts(scratch_db, store, 30)
    connection = await asyncpg.connect(dsn)
    try:
        relay = OutboxRelay(dsn, create_producer(kafka, "unused"), batch_size=10)
        await relay.measure_backlog(connection)
        assert sample("promptworks_outbox_backlog_events") == 30
        assert sample("promptworks_outbox_oldest_unpublished_age_seconds") > 0
    finally:
        await connection.close()

    observed = sample("promptworks_outbox_relay_latency_seconds_count")
    published = sample("promptworks_outbox_published_total")
    async with running_relay(dsn, kafka):
        await read_topic(kafka, PROMPT_EVENTS, 30)

        async def drained() -> bool:
            return sample("promptworks_outbox_backlog_events") == 0

        await wait_until(drained, timeout=15)
    assert sample("promptworks_outbox_published_total") - published == 30
    assert sample("promptworks_outbox_relay_latency_seconds_count") - observed == 30
    assert sample("promptworks_outbox_oldest_unpublished_age_seconds") == 0
