"""The replay's bulk path with a batch in flight ahead: while one batch is applied, the next is
fetched and decoded (in slices); a batch the bulk path refuses drops the batch fetched ahead,
and the live consumer's code applies from the stored offsets. Every event is applied exactly
once, in its stream's order, whichever path applied it."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.topics import PROMPT_EVENTS
from promptworks_eventkit.consumer import ConsumerRunner
from promptworks_eventkit.db import create_engine, create_sessionmaker
from promptworks_eventkit.kafka import create_producer
from promptworks_eventkit.messages import ReceivedEvent
from query_api.projections import CONSUMER_NAME, build_router
from query_api.read_schema import LIVE, use_schema
from query_api.rebuild.bulk import BulkReplay

pytestmark = pytest.mark.integration

run_world = importlib.import_module("services.query-api.tests.run_world")


class Observed(BulkReplay):
    """Notes, for each fetch, whether it began while a batch was being applied."""

    applying = False
    fetches: list[bool]

    async def _fetch(self) -> Any:
        self.fetches = [*getattr(self, "fetches", []), self.applying]
        return await super()._fetch()

    async def _apply(self, fetched: Any, handler: Any) -> int:
        self.applying = True
        try:
            return await super()._apply(fetched, handler)
        finally:
            self.applying = False


BATCH = 5
PROMPTS = 12  # 24 events: five batches


async def test_a_refused_batch_drops_the_fetch_ahead_and_each_event_is_applied_once(
    database: Any, kafka: Any, publisher: Any
) -> None:
    prompts = [run_world._prompt(f"p{i}", "ann") for i in range(PROMPTS)]
    events = [e for p in prompts for e in (p, run_world._version(p, 1))]
    await publisher.publish(events)

    engine = create_engine(await database("query-api"), pool_size=2)
    use_schema(engine, LIVE)
    sessions = create_sessionmaker(engine)
    producer = create_producer(kafka, "bulk-replay-test")
    await producer.start()
    router = build_router()
    applied_live: list[ReceivedEvent] = []
    applied_bulk: list[ReceivedEvent] = []
    calls: list[int] = []

    async def live(session: AsyncSession, batch: Sequence[ReceivedEvent]) -> None:
        applied_live.extend(batch)
        await router(session, batch)

    async def bulk(session: AsyncSession, batch: Sequence[ReceivedEvent]) -> None:
        calls.append(len(batch))
        if len(calls) == 2:
            raise RuntimeError("a handler fails: the bulk path refuses the batch")
        await router(session, batch)
        applied_bulk.extend(batch)

    runner = ConsumerRunner(
        name=CONSUMER_NAME,
        topics=router.topics,
        handles=router.handles,
        handler=live,
        sessions=sessions,
        kafka=kafka,
        producer=producer,
        max_records=BATCH,
    )
    topic = kafka.topic(PROMPT_EVENTS)
    consumer = await runner.open_assigned()
    try:
        partitions = [tp for tp in consumer.assignment() if tp.topic == topic]
        targets: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        replay = Observed(
            runner=runner,
            consumer=consumer,
            handler=bulk,
            handles=router.handles,
            sessions=sessions,
            kafka=kafka,
            max_records=BATCH,
            slice_records=2,  # batches of 5 fetched and decoded in three slices
        )
        progress: list[tuple[int, int]] = []
        await replay.until(targets, lambda records, behind: progress.append((records, behind)))
    finally:
        await consumer.stop()
        await producer.stop()

    # The first fetch waited for nothing; the next two began while a batch was being applied
    # (the second of them ahead of the batch that was refused, and dropped).
    assert replay.fetches[:3] == [False, True, True], replay.fetches
    assert replay.fallbacks == 1 and applied_live, "the refused batch went to the live code"
    applied = [(e.envelope.subject, e.envelope.streamversion) for e in applied_bulk + applied_live]
    expected = [(str(p.prompt_id), version) for p in prompts for version in (1, 2)]
    assert sorted(applied) == sorted(expected), "every event exactly once"
    assert sum(records for records, _ in progress) == 2 * PROMPTS
    assert progress[-1][1] == 0
    async with sessions() as session:
        stored = await session.execute(
            text("SELECT count(*), count(DISTINCT current_version_id) FROM prompts")
        )
        assert tuple(stored.one()) == (PROMPTS, PROMPTS)
    await engine.dispose()
