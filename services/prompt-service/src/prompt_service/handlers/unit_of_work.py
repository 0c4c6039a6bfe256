"""One command, one PostgreSQL transaction: every append and every lookup row, or none of them.

A command may append to several streams (a prompt and the class it creates; a class and each
prompt it detaches), once per stream. ``positions`` lists every append in order, so that a
reader (query-api) can wait until its projection has applied all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_contracts.events import DomainEvent
from promptworks_eventkit.errors import ConcurrencyConflictError, ConflictError
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.messages import MessageContext

# Deadlock, serialization failure, lock not available, and a foreign key that a concurrent
# delete removed: the outcome of a race, not of bad input, so the client may simply retry.
_RETRYABLE = {"40P01", "40001", "55P03", "23503"}


@dataclass(frozen=True)
class Position:
    stream_id: str
    stream_version: int


@dataclass
class UnitOfWork:
    session: AsyncSession
    store: EventStore
    context: MessageContext
    positions: list[Position] = field(default_factory=list)

    async def load(self, stream_id: str) -> list[DomainEvent]:
        return [stored.event for stored in await self.store.load(self.session, stream_id)]

    async def append(
        self, stream_id: str, events: Sequence[DomainEvent], expected_version: int
    ) -> int:
        """Appends (nothing for no events) and returns the stream's version afterwards."""
        if not events:
            return expected_version
        envelopes = await self.store.append(
            self.session, stream_id, events, expected_version, self.context
        )
        version = envelopes[-1].streamversion
        self.positions.append(Position(stream_id, version))
        return version


def check_expected(stream_id: str, expected: int | None, actual: int) -> None:
    """``If-Match``: a client that saw another version than the current one gets 409."""
    if expected is not None and expected != actual:
        raise ConcurrencyConflictError(stream_id, expected, actual)


@asynccontextmanager
async def unit_of_work(
    sessions: async_sessionmaker[AsyncSession], store: EventStore, context: MessageContext
) -> AsyncIterator[UnitOfWork]:
    try:
        async with sessions() as session, session.begin():
            yield UnitOfWork(session, store, context)
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) not in _RETRYABLE:
            raise
        raise ConflictError(
            "a concurrent change got in the way; nothing was written, retry the request",
            rule="concurrent_update",
        ) from error
