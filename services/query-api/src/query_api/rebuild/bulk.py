"""The replay's bulk path: the live projection's handlers fed without the live consumer's
per-record machinery (ADR 0023, addendum of the fifth round).

A rebuild reads millions of records that were all applied once already; almost every batch is
well formed. For those, this path does what eventkit's ``ConsumerRunner`` does (one transaction
per batch: the router's handlers on the events not applied yet, each stream's position and
each partition's next offset), with less work per record:

- records are taken from aiokafka as they come (no copy into a record object of our own);
- the CloudEvents headers of a whole batch are validated in one call into pydantic-core
  (``Envelope`` with ``ce_`` aliases), the data of each event type in one call per type
  (the batch's values joined into one JSON array, same models, same ``RECORDED`` context);
- the streams' applied versions are kept in memory (read once from the new schema: only this
  replay writes its partitions' streams there), so a batch reads none of them back; the new
  ones are written in one statement;
- the garbage collector is paused for the whole batch, decoding and applying.

Anything else (a record that does not decode, a handler that fails, a count that does not
add up) and the batch's transaction is rolled back: the live consumer's code then applies
that stretch from the stored offsets, with its retries, one-by-one isolation and dead letters,
and the bulk path goes on after it. The read models are the handlers' either way; the
rebuild's equality test compares them with the live ones.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ConfigDict, TypeAdapter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_contracts.envelope import HEADER_PREFIX, Envelope
from promptworks_contracts.events import EVENT_MODELS, DomainEvent
from promptworks_contracts.values import RECORDED
from promptworks_eventkit.consumer import ConsumerRunner
from promptworks_eventkit.gc_pause import gc_paused
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.settings import KafkaSettings

log = structlog.get_logger(__name__)

Targets = dict[TopicPartition, int]
Handler = Callable[[AsyncSession, Sequence[ReceivedEvent]], Any]


class _HeaderEnvelope(Envelope):
    """An ``Envelope`` read straight from a record's ``ce_*`` headers (same fields, same
    validation; the aliases are the header names)."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", alias_generator=lambda name: HEADER_PREFIX + name
    )


_ENVELOPES = TypeAdapter(list[_HeaderEnvelope])
COLLECT_EVERY = 8
"""Batches (of up to 20,000 records) between two collections of a replay's cyclic garbage: a
full collection traverses every live object (0.1-0.3 s of CPU on a loaded machine, the batch
decoded ahead among them) and found 15-20,560 unreachable objects a batch (measured,
100,000 events): a few MB of garbage waiting at most."""
SLICE = 2000
"""Records fetched (unpacked by aiokafka) and decoded at a time before the event loop is let go:
~20-40 ms of CPU, short beside a batch's statements."""
_EVENTS: dict[str, TypeAdapter[list[Any]]] = {}


def _events_of(event_type: str) -> TypeAdapter[list[Any]]:
    adapter = _EVENTS.get(event_type)
    if adapter is None:
        model = EVENT_MODELS[event_type]
        adapter = _EVENTS[event_type] = TypeAdapter(list[model])  # type: ignore[valid-type]
    return adapter


class BulkRefused(Exception):
    """The batch needs the live consumer's handling (see the module); nothing was committed."""


_POSITIONS = text(
    "INSERT INTO consumer_stream_positions (consumer, topic, stream_id, version) "
    "SELECT :consumer, p.topic, p.stream_id, p.version "
    "FROM json_to_recordset(CAST(:rows AS json)) AS p(topic text, stream_id text, version int) "
    "ON CONFLICT (consumer, topic, stream_id) DO UPDATE SET version = excluded.version"
)
_OFFSETS = text(
    "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) "
    "SELECT :consumer, o.topic, o.partition, o.next_offset "
    "FROM json_to_recordset(CAST(:rows AS json)) "
    "AS o(topic text, partition int, next_offset bigint) "
    "ON CONFLICT (consumer, topic, partition) DO UPDATE "
    "SET next_offset = excluded.next_offset, updated_at = now()"
)


class BulkReplay:
    """Applies the partitions of ``consumer`` (a ``ConsumerRunner.open_assigned`` one) up to
    targets, in bulk, falling back to ``runner`` for a batch the bulk path refuses."""

    def __init__(
        self,
        *,
        runner: ConsumerRunner,
        consumer: AIOKafkaConsumer,
        handler: Handler,
        handles: Callable[[str], bool],
        sessions: async_sessionmaker[AsyncSession],
        kafka: KafkaSettings,
        max_records: int,
        slice_records: int = SLICE,
    ) -> None:
        self._runner = runner
        self._consumer = consumer
        self._handler = handler
        self._handles = handles
        self._sessions = sessions
        self._kafka = kafka
        self._max_records = max_records
        self._slice = slice_records
        self._next: dict[TopicPartition, int] = runner.positions()
        self._applied: dict[tuple[str, str], int] | None = None
        """Per (topic, stream), the version applied: loaded once, then kept here."""
        self._logical: dict[str, str] = {}
        self.fallbacks = 0
        """Batches handed to the live consumer's code (``BulkRefused``)."""

    async def until(
        self,
        targets: Targets,
        applied: Callable[[int, int], None],
        handler: Handler | None = None,
    ) -> None:
        """Applies records until every partition's position reached its target; ``applied``
        is told (records, records still behind) after each batch. ``handler``: in place of
        the replay's own, for this stretch (a refused batch still goes to the live code).

        Two batches are in flight: while one's statements run in PostgreSQL (another CPU),
        the next is fetched and decoded here, in slices that let the first's statements
        go out between them. A batch is fetched only while the one before it leaves a
        target unreached, so a stretch ends where it did without the overlap."""

        def behind(after: Targets | None = None) -> int:
            done = self._next if after is None else _advanced(self._next, after)
            return sum(max(0, o - done.get(tp, 0)) for tp, o in targets.items())

        ahead: asyncio.Task[_Fetched | None] | None = None
        batches = 0
        # The collector paused for the whole stretch (aiokafka makes a dozen objects a record,
        # decoding and the handlers many more): reference counting frees a batch's objects
        # when it is dropped; the cycles among them wait for a collection every
        # COLLECT_EVERY batches. Lifted after each batch, as it was, the collector traversed
        # the batch decoded ahead (alive) once a batch, and promoted it to the generations
        # that are traversed again.
        with gc_paused():
            try:
                while behind() > 0:
                    fetched = await (ahead if ahead is not None else self._fetch())
                    ahead = None
                    if (
                        fetched is not None
                        and fetched.events is not None
                        and behind(fetched.ends) > 0
                    ):
                        ahead = asyncio.create_task(self._fetch())
                    count, refused = await self._apply_or_refuse(fetched, handler or self._handler)
                    del fetched
                    if refused is not None:  # the live consumer's code takes the batch over
                        await dropped(ahead)
                        ahead = None
                        count = await self._fall_back(refused)
                    batches += 1
                    if batches % COLLECT_EVERY == 0:
                        gc.collect()
                    applied(count, behind())
            finally:
                await dropped(ahead)

    async def _fetch(self) -> _Fetched | None:
        """The next batch, decoded; None if nothing came within the fetch's wait."""
        batch: dict[TopicPartition, list[Any]] = {}
        taken = 0
        wait_ms = 500
        while taken < self._max_records:
            # In slices: unpacking records is CPU work that would hold the event loop, and
            # with it the statements of the batch being applied, for the whole batch.
            part = await self._consumer.getmany(
                timeout_ms=wait_ms, max_records=min(self._slice, self._max_records - taken)
            )
            if not part:
                break
            for tp, messages in part.items():
                batch.setdefault(tp, []).extend(messages)
                taken += len(messages)
            wait_ms = 0  # the first slice waited for records; the rest take what is buffered
        ends = {tp: messages[-1].offset + 1 for tp, messages in batch.items() if messages}
        if not ends:
            return None
        records = [
            (tp, m)
            for tp, messages in batch.items()
            for m in messages
            if m.offset >= self._next.get(tp, 0)
        ]
        try:
            events = await decode_in_slices(records, self._handles, self._topic, self._slice)
        except Exception as error:
            log.info("bulk replay hands a batch to the consumer", error=repr(error))
            return _Fetched(ends, len(records), None)
        return _Fetched(ends, len(records), events)

    async def _apply_or_refuse(
        self, fetched: _Fetched | None, handler: Handler
    ) -> tuple[int, Targets | None]:
        """The batch applied: (records, None); or (0, the batch's end offsets) if the bulk
        path refused it (nothing committed: the live consumer's code takes it over)."""
        if fetched is None:
            return 0, None
        if fetched.events is None:
            return 0, fetched.ends
        try:
            return await self._apply(fetched, handler), None
        except Exception as error:
            log.info("bulk replay hands a batch to the consumer", error=repr(error))
            return 0, fetched.ends

    async def _apply(self, fetched: _Fetched, handler: Handler) -> int:
        # The records were taken from the positions as they were at the fetch; the batch
        # before (applied meanwhile) ends where this one begins, so none is applied twice.
        events, ends = fetched.events or [], fetched.ends
        if not fetched.records:
            return 0
        async with self._sessions() as session, session.begin():
            applied = await self._applied_versions(session)
            fresh: list[ReceivedEvent] = []
            moved: dict[tuple[str, str], int] = {}
            for event in events:
                key = (event.topic, event.envelope.subject)
                version = event.envelope.streamversion
                if version > moved.get(key, 0) and version > applied.get(key, 0):
                    moved[key] = version
                    fresh.append(event)
            if fresh:
                await handler(session, fresh)
                rows = [{"topic": t, "stream_id": s, "version": v} for (t, s), v in moved.items()]
                await session.execute(
                    _POSITIONS, {"consumer": self._runner.name, "rows": _json(rows)}
                )
            offsets = [
                {"topic": self._topic(tp), "partition": tp.partition, "next_offset": o}
                for tp, o in sorted(ends.items())
            ]
            await session.execute(_OFFSETS, {"consumer": self._runner.name, "rows": _json(offsets)})
        applied.update(moved)
        self._next = _advanced(self._next, ends)
        return fetched.records

    async def _applied_versions(self, session: AsyncSession) -> dict[tuple[str, str], int]:
        if self._applied is None:
            rows = await session.execute(
                text(
                    "SELECT topic, stream_id, version FROM consumer_stream_positions "
                    "WHERE consumer = :consumer"
                ),
                {"consumer": self._runner.name},
            )
            self._applied = {(t, s): v for t, s, v in rows}
        return self._applied

    async def _fall_back(self, ends: Targets) -> int:
        """The live consumer's code applies from the stored offsets through ``ends``."""
        self.fallbacks += 1
        partitions = sorted(self._consumer.assignment())
        await self._runner.seek_to_stored_offsets(partitions)
        before = sum(self._runner.positions().get(tp, 0) for tp in partitions)

        def behind() -> int:
            positions = self._runner.positions()
            return sum(max(0, o - positions.get(tp, 0)) for tp, o in ends.items())

        while behind() > 0:
            await self._runner.poll(self._consumer)
        self._next = self._runner.positions()
        self._applied = None  # it wrote stream positions: read them again
        return sum(self._next.get(tp, 0) for tp in partitions) - before

    def _topic(self, tp: TopicPartition) -> str:
        logical = self._logical.get(tp.topic)
        if logical is None:
            logical = self._logical[tp.topic] = self._kafka.logical_topic(tp.topic)
        return logical


def decode(
    records: Sequence[tuple[TopicPartition, Any]],
    handles: Callable[[str], bool],
    logical: Callable[[TopicPartition], str],
) -> list[ReceivedEvent]:
    """The handled events of aiokafka ``records`` in their order (``logical``: a partition's
    topic without the deployment prefix). Raises on anything the live consumer would treat
    otherwise than decode (an invalid envelope or data): the bulk path then refuses the batch."""
    envelopes = _ENVELOPES.validate_python(
        [{k: v.decode("utf-8", "replace") for k, v in m.headers} for _, m in records]
    )
    by_type: dict[str, list[int]] = {}
    for index, envelope in enumerate(envelopes):
        if handles(envelope.type):
            by_type.setdefault(envelope.type, []).append(index)
    events: dict[int, DomainEvent] = {}
    for event_type, indexes in by_type.items():
        values = [records[i][1].value for i in indexes]
        decoded = _events_of(event_type).validate_json(
            b"[" + b",".join(values) + b"]", context=RECORDED
        )
        if len(decoded) != len(indexes):  # a value that was several (or no) JSON values
            raise BulkRefused(f"{event_type}: {len(decoded)} events in {len(indexes)} records")
        events.update(zip(indexes, decoded, strict=True))
    return [
        ReceivedEvent(logical(tp), tp.partition, m.offset, envelopes[i], events[i])
        for i, (tp, m) in enumerate(records)
        if i in events
    ]


async def decode_in_slices(
    records: Sequence[tuple[TopicPartition, Any]],
    handles: Callable[[str], bool],
    logical: Callable[[TopicPartition], str],
    slice_records: int = SLICE,
) -> list[ReceivedEvent]:
    """``decode``, a slice of records at a time, the event loop let go between slices (the
    batch applied meanwhile sends its next statement)."""
    events: list[ReceivedEvent] = []
    for start in range(0, len(records), slice_records):
        if start:
            await asyncio.sleep(0)
        events += decode(records[start : start + slice_records], handles, logical)
    return events


@dataclass
class _Fetched:
    ends: Targets
    """Each partition's offset after the batch."""
    records: int
    """Records at or past the positions (those the batch applies)."""
    events: list[ReceivedEvent] | None
    """The handled events among them; None if they do not decode (the batch is refused)."""


def _advanced(positions: Targets, ends: Targets) -> Targets:
    return {**positions, **{tp: max(positions.get(tp, 0), o) for tp, o in ends.items()}}


async def dropped(task: asyncio.Task[Any] | None) -> None:
    """A task whose work is no longer wanted (a fetch ahead when the consumer is about to seek,
    or anything when the replay failed), cancelled and waited for; what it returned or raised
    is of no use any more (logged)."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait([task])  # a cancellation of the caller itself still propagates
    if not task.cancelled() and task.exception() is not None:
        log.info("bulk replay drops a task", error=repr(task.exception()))


def _json(rows: list[dict[str, Any]]) -> str:
    return orjson.dumps(rows).decode()
