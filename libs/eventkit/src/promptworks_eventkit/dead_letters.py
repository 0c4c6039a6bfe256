"""Dead letters for operators: list them with their reason, replay one or all after a fix.

Invariants:
- A replay re-applies the stored record through the consumer's own path: the same decoding,
  the same handler, in one transaction with the letter's ``replayed_at``. The letter's row is
  locked (``FOR UPDATE``) and must still be open, so two replays (two operators, two replicas)
  apply it once: exactly once in effect.
- Copies of the same event (the relay re-sent a poison event, and it failed again) are one
  letter to the operator: replaying one closes every open letter of that consumer and event id.
- A replayed letter is never deleted: it stays, marked ``replayed_at``/``replayed_by``. A replay
  that fails again changes nothing but ``replay_error``: the letter stays open.
- The event's stream position is not moved back: later events of its stream were applied
  meanwhile, and a replayed event is applied after them (handlers must tolerate that, see
  ADR 0013).
- Each consumer's letters are replayed by its ``ReplayPath``: a Kafka consumer's by its own
  handlers (``ConsumerPath``); a service's other letters (the evaluator's re-evaluation
  results, which were no Kafka record) by a path the service registers. A path that cannot
  apply a letter correctly any more refuses it (``ReplayRefusedError``, naming why): the
  letter stays open with that reason, as after a failed replay.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import decode_event
from promptworks_eventkit.failures import is_infrastructure_failure
from promptworks_eventkit.fence import Fence
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.tables import consumer_stream_positions, dead_letters

Status = Literal["open", "replayed", "all"]

BatchApply = Callable[[AsyncSession, Sequence[ReceivedEvent]], Any]


def encode_headers(headers: Sequence[tuple[str, bytes]]) -> list[list[str]]:
    """Kafka headers as JSON: values are bytes, kept exactly (base64)."""
    return [[name, base64.b64encode(value).decode("ascii")] for name, value in headers]


def decode_headers(stored: Sequence[Sequence[str]]) -> list[tuple[str, bytes]]:
    return [(name, base64.b64decode(value)) for name, value in stored]


class DeadLetterNotFoundError(LookupError):
    pass


class AlreadyReplayedError(Exception):
    pass


class ReplayFailedError(Exception):
    """The record still cannot be applied; the letter stays open with this reason."""


class ReplayRefusedError(Exception):
    """Applying the letter now could not be correct (the message says why); it stays open
    with this reason."""


class ReplayPath(Protocol):
    async def replay(
        self, session: AsyncSession, letter: DeadLetter, value: bytes | None, headers: Any
    ) -> None:
        """Applies ``letter`` (its stored record: ``value``, ``headers``) in ``session``, the
        transaction that holds the letter's row and marks it replayed. Raises
        ``ReplayFailedError`` (it fails again) or ``ReplayRefusedError`` (it cannot be
        correct)."""
        ...


@dataclass(frozen=True)
class ConsumerPath:
    """What a Kafka consumer does with a record: which types it handles, the batch handler,
    and the consumer's fence (``fence.py``), taken by a replay as by a batch: a replay during a
    rebuild's switch waits for it and lands in the models that are live after it."""

    handles: Callable[[str], bool]
    handler: BatchApply
    fence: Fence | None = None

    async def replay(
        self, session: AsyncSession, letter: DeadLetter, value: bytes | None, headers: Any
    ) -> None:
        """Through the consumer's own decoding and handler; the stream's position moves
        forward only."""
        if value is None or headers is None:
            raise ReplayFailedError("the record was not kept (a letter older than replay)")
        try:
            envelope = Envelope.from_kafka_headers(decode_headers(headers))
            if not self.handles(envelope.type):
                return  # nothing this consumer does with it any more: replayed as a no-op
            event = decode_event(envelope.type, value)
        except Exception as error:
            raise ReplayFailedError(f"undecodable: {error}") from error
        received = ReceivedEvent(letter.topic, letter.partition, letter.offset, envelope, event)
        if self.fence is not None:
            await self.fence(session)
        try:
            await self.handler(session, [received])
        except Exception as error:
            if is_infrastructure_failure(error):
                raise  # not the record's fault: the letter stays as it was
            raise ReplayFailedError(f"handler failed: {error!r}") from error
        # The stream's position only moves forward (later events may be applied already).
        statement = pg_insert(consumer_stream_positions).values(
            consumer=letter.consumer,
            topic=letter.topic,
            stream_id=envelope.subject,
            version=envelope.streamversion,
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["consumer", "topic", "stream_id"],
                set_={
                    "version": func.greatest(
                        consumer_stream_positions.c.version, statement.excluded.version
                    )
                },
            )
        )


@dataclass(frozen=True)
class DeadLetter:
    id: int
    consumer: str
    topic: str
    partition: int
    offset: int
    event_id: str | None
    event_type: str | None
    error: str
    recorded_at: datetime
    replayed_at: datetime | None
    replayed_by: str | None
    replay_error: str | None

    @property
    def status(self) -> str:
        return "replayed" if self.replayed_at is not None else "open"


_COLUMNS = (
    dead_letters.c.id,
    dead_letters.c.consumer,
    dead_letters.c.topic,
    dead_letters.c.partition,
    dead_letters.c.offset,
    dead_letters.c.event_id,
    dead_letters.c.event_type,
    dead_letters.c.error,
    dead_letters.c.recorded_at,
    dead_letters.c.replayed_at,
    dead_letters.c.replayed_by,
    dead_letters.c.replay_error,
)


def _letter(row: Any) -> DeadLetter:
    return DeadLetter(**{column.name: row._mapping[column.name] for column in _COLUMNS})


class DeadLetters:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], paths: Mapping[str, ReplayPath]
    ) -> None:
        self._sessions = sessions
        self._paths = paths

    async def page(
        self,
        *,
        status: Status = "open",
        consumer: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[DeadLetter], int]:
        """A page of letters, oldest first, and how many match over all pages."""
        conditions: list[ColumnElement[bool]] = []
        if status == "open":
            conditions.append(dead_letters.c.replayed_at.is_(None))
        elif status == "replayed":
            conditions.append(dead_letters.c.replayed_at.is_not(None))
        if consumer is not None:
            conditions.append(dead_letters.c.consumer == consumer)
        async with self._sessions() as session:
            total = await session.scalar(
                select(func.count()).select_from(dead_letters).where(*conditions)
            )
            rows = await session.execute(
                select(*_COLUMNS)
                .where(*conditions)
                .order_by(dead_letters.c.id)
                .limit(limit)
                .offset(offset)
            )
            return [_letter(row) for row in rows], int(total or 0)

    async def get(self, letter_id: int) -> DeadLetter:
        async with self._sessions() as session:
            row = (
                await session.execute(select(*_COLUMNS).where(dead_letters.c.id == letter_id))
            ).first()
        if row is None:
            raise DeadLetterNotFoundError(letter_id)
        return _letter(row)

    async def open_ids(self, consumer: str | None = None) -> list[int]:
        conditions: list[ColumnElement[bool]] = [dead_letters.c.replayed_at.is_(None)]
        if consumer is not None:
            conditions.append(dead_letters.c.consumer == consumer)
        async with self._sessions() as session:
            rows = await session.scalars(
                select(dead_letters.c.id).where(*conditions).order_by(dead_letters.c.id)
            )
            return list(rows)

    async def replay(self, letter_id: int, actor: str) -> DeadLetter:
        """Applies the letter's record through its consumer's path; raises
        ``DeadLetterNotFoundError``, ``AlreadyReplayedError``, ``ReplayFailedError`` or
        ``ReplayRefusedError``."""
        try:
            async with self._sessions() as session, session.begin():
                row = (
                    await session.execute(
                        select(
                            *_COLUMNS,
                            dead_letters.c.key,
                            dead_letters.c.value,
                            dead_letters.c.headers,
                        )
                        .where(dead_letters.c.id == letter_id)
                        .with_for_update()
                    )
                ).first()
                if row is None:
                    raise DeadLetterNotFoundError(letter_id)
                letter = _letter(row)
                if letter.replayed_at is not None:
                    raise AlreadyReplayedError(letter_id)
                path = self._paths.get(letter.consumer)
                if path is None:
                    raise ReplayFailedError(f"no consumer {letter.consumer!r} in this service")
                await path.replay(session, letter, row.value, row.headers)
                closed = dead_letters.c.id == letter_id
                if letter.event_id is not None:
                    # Every open copy of the same event, for this consumer.
                    closed = closed | (
                        (dead_letters.c.consumer == letter.consumer)
                        & (dead_letters.c.event_id == letter.event_id)
                        & dead_letters.c.replayed_at.is_(None)
                    )
                await session.execute(
                    update(dead_letters)
                    .where(closed)
                    .values(replayed_at=func.now(), replayed_by=actor, replay_error=None)
                )
        except (ReplayFailedError, ReplayRefusedError) as error:
            async with self._sessions() as session, session.begin():
                await session.execute(
                    update(dead_letters)
                    .where(dead_letters.c.id == letter_id)
                    .values(replay_error=str(error)[:4000])
                )
            raise
        return await self.get(letter_id)
