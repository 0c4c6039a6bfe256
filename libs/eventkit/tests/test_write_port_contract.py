"""ONE contract suite for the write port, run against every implementation: in memory and on
real PostgreSQL. What a handler may rely on is exactly what passes here for both, so handler
tests on the in-memory port prove what production does on PostgreSQL.

Each implementation comes with a tiny "notes" repository in the same unit of work, so the
suite also proves that a service's own writes commit and roll back with its events.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest
from sqlalchemy import Column, MetaData, Table, Text, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import PromptArchived, PromptCreated
from promptworks_eventkit.errors import ConcurrencyConflictError
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.messages import MessageContext, Position
from promptworks_eventkit.settings import KafkaSettings
from promptworks_eventkit.tables import events, outbox
from promptworks_eventkit.writing.memory import InMemoryWritePort
from promptworks_eventkit.writing.port import WritePort, load_events
from promptworks_eventkit.writing.postgres import PostgresWritePort

from .conftest import scratch_database


class Notes(Protocol):
    """The service-side repository of this suite: writes that must share the unit of work."""

    async def add(self, text: str) -> None: ...

    async def all(self) -> list[str]: ...


@dataclass
class MemoryNotes:
    texts: list[str] = field(default_factory=list)

    async def add(self, text: str) -> None:
        self.texts.append(text)

    async def all(self) -> list[str]:
        return list(self.texts)


notes_table = Table("contract_notes", MetaData(), Column("text", Text, nullable=False))


class PostgresNotes:
    def __init__(self, session: AsyncSession, context: MessageContext) -> None:
        self._session = session

    async def add(self, text: str) -> None:
        await self._session.execute(insert(notes_table).values(text=text))

    async def all(self) -> list[str]:
        return list((await self._session.scalars(select(notes_table.c.text))).all())


@dataclass
class Subject:
    """One implementation under test and how to look at what it committed."""

    port: WritePort[Notes]
    committed_outbox: Any
    """async () -> list of event ids queued for publication, in queue order."""


def _created(stream: uuid.UUID, name: str = "p") -> PromptCreated:
    return PromptCreated(prompt_id=stream, name=name)


def _archived(stream: uuid.UUID) -> PromptArchived:
    return PromptArchived(prompt_id=stream)


@pytest.fixture(params=["memory", "postgres"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    if request.param == "memory":
        memory = InMemoryWritePort[Notes](MemoryNotes(), source="/tests")

        async def memory_outbox() -> list[uuid.UUID]:
            return [stored.envelope.id for stored in memory.outbox]

        yield Subject(memory, memory_outbox)
        return
    # ``infra`` is synchronous, so it can be requested here; the database is this test's own.
    async with scratch_database(request.getfixturevalue("infra"), notes_table.metadata) as db:
        postgres = PostgresWritePort[Notes](
            db.sessions, EventStore("/tests", KafkaSettings()), PostgresNotes
        )

        async def postgres_outbox() -> list[uuid.UUID]:
            async with db.sessions() as session:
                query = (
                    select(events.c.event_id)
                    .join(outbox, outbox.c.position == events.c.position)
                    .order_by(outbox.c.position)
                )
                return list(await session.scalars(query))

        yield Subject(postgres, postgres_outbox)


async def _committed_notes(subject: Subject) -> list[str]:
    async with subject.port.transaction() as tx:
        return await tx.repos.all()


async def test_append_stores_events_in_order_with_envelopes(subject: Subject) -> None:
    stream = uuid.uuid4()
    context = MessageContext(correlation_id="corr-1", causation_id="cause-1", traceparent=None)
    async with subject.port.transaction(context) as tx:
        version = await tx.append(str(stream), [_created(stream), _archived(stream)], 0)
    assert version == 2
    async with subject.port.transaction() as tx:
        stored = await tx.load(str(stream))
        assert await tx.version(str(stream)) == 2
        assert await tx.version(str(uuid.uuid4())) == 0
    assert [s.envelope.streamversion for s in stored] == [1, 2]
    assert [type(s.event) for s in stored] == [PromptCreated, PromptArchived]
    first = stored[0].envelope
    assert first.type == PromptCreated.event_type
    assert first.subject == str(stream)
    assert first.source == "/tests"
    assert (first.correlationid, first.causationid) == ("corr-1", "cause-1")
    assert stored[0].envelope.id != stored[1].envelope.id


async def test_every_committed_event_is_queued_once_in_append_order(subject: Subject) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    async with subject.port.transaction() as tx:
        await tx.append(str(a), [_created(a)], 0)
        await tx.append(str(b), [_created(b)], 0)
    async with subject.port.transaction() as tx:
        await tx.append(str(a), [_archived(a)], 1)
    async with subject.port.transaction() as tx:
        expected = [s.envelope.id for s in await tx.load(str(a))]
        expected_b = [s.envelope.id for s in await tx.load(str(b))]
    queued = await subject.committed_outbox()
    assert sorted(map(str, queued)) == sorted(map(str, expected + expected_b))
    assert [i for i in queued if i in expected] == expected  # per-stream order kept


async def test_stale_expected_version_is_a_conflict_and_writes_nothing(subject: Subject) -> None:
    stream = uuid.uuid4()
    async with subject.port.transaction() as tx:
        await tx.append(str(stream), [_created(stream)], 0)
    with pytest.raises(ConcurrencyConflictError) as raised:
        async with subject.port.transaction() as tx:
            await tx.repos.add("written before the conflict")
            await tx.append(str(stream), [_archived(stream)], 0)
    assert (raised.value.expected, raised.value.actual) == (0, 1)
    assert await _committed_notes(subject) == []
    assert len(await subject.committed_outbox()) == 1


async def test_a_failed_unit_of_work_leaves_nothing_behind(subject: Subject) -> None:
    stream = uuid.uuid4()
    with pytest.raises(RuntimeError):
        async with subject.port.transaction() as tx:
            await tx.append(str(stream), [_created(stream)], 0)
            await tx.repos.add("note")
            raise RuntimeError("the command failed after writing")
    async with subject.port.transaction() as tx:
        assert await tx.version(str(stream)) == 0
        assert await tx.load(str(stream)) == []
    assert await _committed_notes(subject) == []
    assert await subject.committed_outbox() == []


async def test_repository_writes_commit_with_the_events(subject: Subject) -> None:
    stream = uuid.uuid4()
    async with subject.port.transaction() as tx:
        await tx.repos.add("one")
        await tx.append(str(stream), [_created(stream)], 0)
        assert await tx.repos.all() == ["one"]  # a transaction reads its own writes
    assert await _committed_notes(subject) == ["one"]


async def test_positions_list_every_append_in_order(subject: Subject) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    async with subject.port.transaction() as tx:
        assert await tx.append(str(a), [], 0) == 0  # nothing to append: no position
        await tx.append(str(a), [_created(a)], 0)
        await tx.append(str(b), [_created(b)], 0)
        await tx.append(str(a), [_archived(a)], 1)
        positions = list(tx.positions)
    assert positions == [Position(str(a), 1), Position(str(b), 1), Position(str(a), 2)]


async def test_an_append_may_name_its_own_context(subject: Subject) -> None:
    stream = uuid.uuid4()
    cause = MessageContext(correlation_id="from-the-cause", causation_id="event-9")
    async with subject.port.transaction(MessageContext(correlation_id="default")) as tx:
        await tx.append(str(stream), [_created(stream)], 0, context=cause)
        await tx.append(str(stream), [_archived(stream)], 1)
    async with subject.port.transaction() as tx:
        first, second = (s.envelope for s in await tx.load(str(stream)))
    assert (first.correlationid, first.causationid) == ("from-the-cause", "event-9")
    assert second.correlationid == "default"


async def test_load_reads_a_range_of_versions(subject: Subject) -> None:
    stream = uuid.uuid4()
    async with subject.port.transaction() as tx:
        await tx.append(str(stream), [_created(stream), _archived(stream), _archived(stream)], 0)
    async with subject.port.transaction() as tx:
        first = await tx.load(str(stream), to_version=1)
        tail = await tx.load(str(stream), from_version=2)
        events_only = await load_events(tx, str(stream))
    assert [s.envelope.streamversion for s in first] == [1]
    assert [s.envelope.streamversion for s in tail] == [2, 3]
    assert [type(e) for e in events_only] == [PromptCreated, PromptArchived, PromptArchived]


async def test_concurrent_writers_at_one_version_one_wins(subject: Subject) -> None:
    stream = uuid.uuid4()
    async with subject.port.transaction() as tx:
        await tx.append(str(stream), [_created(stream)], 0)
    both_read = asyncio.Event()
    arrived = 0

    async def writer(note: str) -> str:
        nonlocal arrived
        try:
            async with subject.port.transaction() as tx:
                expected = await tx.version(str(stream))
                arrived += 1
                if arrived == 2:
                    both_read.set()
                # Serializing implementations never let the second writer in before the
                # first commits; the wait is then bounded and the second reads version 2.
                await _wait(both_read, 0.5)
                await tx.repos.add(note)
                await tx.append(str(stream), [_archived(stream)], expected)
            return "ok"
        except ConcurrencyConflictError:
            return "conflict"

    outcomes = await asyncio.gather(writer("a"), writer("b"))
    async with subject.port.transaction() as tx:
        final_version = await tx.version(str(stream))
    notes = await _committed_notes(subject)
    # No lost update: every writer that succeeded is in the stream and in the repository, the
    # others got a conflict and wrote nothing. (PostgreSQL lets both read version 1, so one
    # conflicts; the in-memory port serializes them, so the second reads the first's commit.)
    succeeded = outcomes.count("ok")
    assert succeeded >= 1 and outcomes.count("conflict") == 2 - succeeded
    assert final_version == 1 + succeeded
    assert len(notes) == succeeded


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


async def test_the_commands_project_is_on_every_envelope_and_stamped_on_creation_events(
    subject: Subject,
) -> None:
    """ADR 0017: the context's project on each envelope; ``project_id`` of creation events."""
    stream = uuid.uuid4()
    async with subject.port.transaction(MessageContext(project="b")) as tx:
        await tx.append(str(stream), [_created(stream), _archived(stream)], 0)
    async with subject.port.transaction() as tx:
        stored = await tx.load(str(stream))
    assert [s.envelope.project for s in stored] == ["b", "b"]
    created = stored[0].event
    assert isinstance(created, PromptCreated) and created.project_id == "b"
    other = uuid.uuid4()
    async with subject.port.transaction() as tx:  # no project named: default
        await tx.append(str(other), [_created(other)], 0)
        [plain] = await tx.load(str(other))
    assert plain.envelope.project == "default"
    assert isinstance(plain.event, PromptCreated) and plain.event.project_id == "default"
