"""Event store guarantees on real PostgreSQL: optimistic concurrency and the outbox."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest
from sqlalchemy import func, select, text

from promptworks_contracts.envelope import kafka_headers
from promptworks_contracts.events import PromptArchived, PromptCreated
from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.errors import ConcurrencyConflictError
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.messages import MessageContext
from promptworks_eventkit.relay import SELECT_BATCH
from promptworks_eventkit.settings import KafkaSettings
from promptworks_eventkit.tables import events, outbox

pytestmark = pytest.mark.integration

STORE = EventStore("/tests", KafkaSettings())


def created(prompt_id: uuid.UUID, name: str = "p") -> PromptCreated:
    return PromptCreated(prompt_id=prompt_id, name=name)


async def test_append_writes_events_and_outbox_in_one_transaction(scratch_db) -> None:
    stream = uuid.uuid4()
    async with scratch_db.sessions() as session, session.begin():
        envelopes = await STORE.append(
            session, str(stream), [created(stream), created(stream, "q")], 0, MessageContext()
        )
    assert [e.streamversion for e in envelopes] == [1, 2]
    async with scratch_db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(events)) == 2
        rows = (
            await session.execute(
                select(events.c.event_id, events.c.stream_id).join(
                    outbox, outbox.c.position == events.c.position
                )
            )
        ).all()
    assert {r.event_id for r in rows} == {e.id for e in envelopes}
    assert {r.stream_id for r in rows} == {str(stream)}


async def test_one_statement_stores_what_each_event_and_envelope_say(scratch_db) -> None:
    """Events of several types in one append (one statement of arrays): each stored event and
    outbox row is its own event's JSON, envelope and Kafka headers, in version order, with a
    correlation id that needs JSON escaping; what the relay reads to send is, byte for byte, the
    JSON the service serialised (stored once, in ``events.data``)."""
    stream = uuid.uuid4()
    batch = [
        created(stream, 'é "quoted"'),
        PromptArchived(prompt_id=stream, message="a"),
        created(stream, "x"),
        PromptArchived(prompt_id=stream, message="b"),
    ]
    context = MessageContext(correlation_id='corr "1" \\ é')
    async with scratch_db.sessions() as session, session.begin():
        await STORE.append(session, str(stream), batch[:1], 0, context)
        envelopes = await STORE.append(session, str(stream), batch[1:], 1, context)
    async with scratch_db.sessions() as session:
        stored = (
            await session.execute(
                select(events.c.version, events.c.event_id, events.c.data, events.c.metadata)
                .where(events.c.version > 1)
                .order_by(events.c.position)
            )
        ).all()
        positions = (
            await session.execute(select(outbox.c.position).order_by(outbox.c.position))
        ).scalars()
        assert list(positions) == [p for (p,) in await session.execute(select(events.c.position))]
    connection = await asyncpg.connect(asyncpg_dsn(scratch_db.url))
    try:
        queued = (await connection.fetch(SELECT_BATCH, 10))[1:]
    finally:
        await connection.close()
    assert [row.version for row in stored] == [2, 3, 4]
    assert [row.event_id for row in stored] == [e.id for e in envelopes]
    for event, envelope, row, message in zip(batch[1:], envelopes, stored, queued, strict=True):
        assert row.data == event.model_dump(mode="json")
        assert row.metadata == envelope.model_dump(mode="json")
        assert message["value"] == event.model_dump_json()
        assert message["key"] == str(stream)
        # The relay builds the headers from the stored envelope.
        assert kafka_headers(json.loads(message["metadata"])) == envelope.to_kafka_headers()


async def test_rolled_back_command_leaves_nothing_behind(scratch_db) -> None:
    stream = uuid.uuid4()
    with pytest.raises(RuntimeError):
        async with scratch_db.sessions() as session, session.begin():
            await STORE.append(session, str(stream), [created(stream)], 0, MessageContext())
            raise RuntimeError("the command failed after appending")
    async with scratch_db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(events)) == 0
        assert await session.scalar(select(func.count()).select_from(outbox)) == 0


async def test_stale_expected_version_is_a_conflict(scratch_db) -> None:
    stream = uuid.uuid4()
    async with scratch_db.sessions() as session, session.begin():
        await STORE.append(session, str(stream), [created(stream)], 0, MessageContext())
    with pytest.raises(ConcurrencyConflictError) as raised:
        async with scratch_db.sessions() as session, session.begin():
            await STORE.append(session, str(stream), [created(stream)], 0, MessageContext())
    assert raised.value.actual == 1


async def test_two_concurrent_appends_at_one_version_one_wins_one_conflicts(scratch_db) -> None:
    """Both writers read version 0 before either commits; the unique index decides."""
    stream = uuid.uuid4()
    both_checked = asyncio.Barrier(2)

    async def writer(name: str) -> str:
        async with scratch_db.sessions() as session:
            try:
                async with session.begin():
                    assert await STORE.version(session, str(stream)) == 0
                    await both_checked.wait()  # neither has inserted yet: a true race
                    await STORE.append(
                        session, str(stream), [created(stream, name)], 0, MessageContext()
                    )
                return "ok"
            except ConcurrencyConflictError as conflict:
                assert conflict.actual == 1
                return "conflict"

    outcomes = await asyncio.gather(writer("a"), writer("b"))
    assert sorted(outcomes) == ["conflict", "ok"]
    async with scratch_db.sessions() as session:
        assert await STORE.version(session, str(stream)) == 1
        assert await session.scalar(select(func.count()).select_from(outbox)) == 1


async def test_a_stale_append_writes_nothing_and_the_transaction_goes_on(scratch_db) -> None:
    """The version is checked in the append's one statement (no savepoint): a stale append
    fails without aborting the transaction, which may append again at the right version."""
    stream = uuid.uuid4()
    async with scratch_db.sessions() as session, session.begin():
        await STORE.append(session, str(stream), [created(stream)], 0, MessageContext())
    async with scratch_db.sessions() as session, session.begin():
        with pytest.raises(ConcurrencyConflictError) as raised:
            await STORE.append(
                session, str(stream), [created(stream, "stale")], 0, MessageContext()
            )
        assert raised.value.actual == 1
        await STORE.append(session, str(stream), [created(stream, "next")], 1, MessageContext())
    async with scratch_db.sessions() as session:
        names = (await session.execute(select(events.c.data).order_by(events.c.version))).all()
        assert [row.data["name"] for row in names] == ["p", "next"]
        assert await session.scalar(select(func.count()).select_from(outbox)) == 2


async def test_a_raced_append_longer_than_the_winners_stores_nothing(scratch_db) -> None:
    """Both writers check version 0 in their statements; the loser's two events meet the
    winner's one (its version 1 taken, its version 2 free): its statement fails as a whole,
    it learns the winner's version (read on a connection of its own: its transaction is
    aborted), and nothing of it is stored."""
    stream = uuid.uuid4()
    async with scratch_db.sessions() as winner, scratch_db.sessions() as loser:
        won = await winner.begin()
        await STORE.append(winner, str(stream), [created(stream, "winner")], 0, MessageContext())
        lost = await loser.begin()
        raced = asyncio.create_task(
            STORE.append(
                loser,
                str(stream),
                [created(stream, "loser"), PromptArchived(prompt_id=stream, message="x")],
                0,
                MessageContext(),
            )
        )
        await _until_a_backend_waits_on_a_lock(scratch_db)  # the loser's insert, on version 1
        await won.commit()
        with pytest.raises(ConcurrencyConflictError) as raised:
            await raced
        assert raised.value.actual == 1
        await lost.rollback()
    async with scratch_db.sessions() as session:
        stored = (await session.execute(select(events.c.data).order_by(events.c.version))).all()
        assert [row.data["name"] for row in stored] == ["winner"]
        assert await session.scalar(select(func.count()).select_from(outbox)) == 1


async def _until_a_backend_waits_on_a_lock(scratch_db) -> None:
    for _ in range(200):
        async with scratch_db.sessions() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the raced append never waited on the winner's row")
