"""The write port on PostgreSQL: the event store, its outbox and the service's own tables in
ONE transaction (READ COMMITTED).

- ``transaction()`` opens a session and commits it when the block ends; a race PostgreSQL
  reports (deadlock 40P01, serialization failure 40001, lock not available 55P03, a foreign key
  whose row a concurrent delete removed 23503) becomes ``ConflictError`` with rule
  ``concurrent_update``: the outcome of a race, not of bad input, so the client may retry.
- ``joined(session)`` binds a transaction to a session someone else commits: a consumer's batch,
  whose effects, appended events and offsets must commit together (exactly once in effect).
- ``UNIQUE (stream_id, version)`` in ``events`` is what makes appends race-free; the event store
  turns its violation into ``ConcurrencyConflictError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_contracts.events import DomainEvent
from promptworks_eventkit.errors import ConflictError
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.messages import MessageContext, StoredEvent
from promptworks_eventkit.writing.port import RETRY_MESSAGE, TransactionBase

R = TypeVar("R")

RETRYABLE_SQLSTATES = frozenset({"40P01", "40001", "55P03", "23503"})


class PostgresTransaction(TransactionBase[R]):
    def __init__(
        self, session: AsyncSession, store: EventStore, repos: R, context: MessageContext
    ) -> None:
        super().__init__(repos, context)
        self.session = session
        self._store = store

    async def version(self, stream_id: str) -> int:
        return await self._store.version(self.session, stream_id)

    async def load(
        self, stream_id: str, *, from_version: int = 1, to_version: int | None = None
    ) -> list[StoredEvent]:
        return await self._store.load(
            self.session, stream_id, from_version=from_version, to_version=to_version
        )

    async def _store_events(
        self,
        stream_id: str,
        events: Sequence[DomainEvent],
        expected_version: int,
        context: MessageContext,
    ) -> int:
        envelopes = await self._store.append(
            self.session, stream_id, events, expected_version, context
        )
        return envelopes[-1].streamversion


class PostgresWritePort(Generic[R]):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: EventStore,
        repos: Callable[[AsyncSession, MessageContext], R],
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._repos = repos

    @asynccontextmanager
    async def transaction(
        self, context: MessageContext | None = None
    ) -> AsyncIterator[PostgresTransaction[R]]:
        try:
            async with self._sessions() as session, session.begin():
                yield self.joined(session, context)
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) not in RETRYABLE_SQLSTATES:
                raise
            raise ConflictError(RETRY_MESSAGE, rule="concurrent_update") from error

    def joined(
        self, session: AsyncSession, context: MessageContext | None = None
    ) -> PostgresTransaction[R]:
        """A transaction inside ``session``, which the caller begins and commits."""
        context = context or MessageContext()
        return PostgresTransaction(session, self._store, self._repos(session, context), context)
