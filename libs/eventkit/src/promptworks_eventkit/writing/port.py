"""The one write port every command handler and every event-emitting consumer uses.

A ``Transaction`` is one unit of work: every append and every repository write in it commit
together, or none of them does. Inside it a handler loads streams, decides, and appends with
the version it expects; a stale version is ``ConcurrencyConflictError`` (HTTP 409), and a race
the storage detects (deadlock, serialization failure, a reference deleted concurrently) is
``ConflictError`` with rule ``concurrent_update``: nothing was written and a retry may succeed.

``positions`` lists every append in order, so a caller (query-api) can wait until its
projection applied all of them. ``repos`` are the service's own repositories, bound to the
same transaction (``R`` is the service's protocol for them, e.g. prompt-service's lookups).

Invariants every implementation keeps (the contract suite checks them):
- appended events are stored in stream order with versions ``expected+1 ..``, each with an
  envelope (id, type, source, subject, time, correlation, causation, stream version, trace)
  and queued for publication in the same unit of work;
- an append at a stale version raises ``ConcurrencyConflictError`` and writes nothing;
- an exception anywhere inside the transaction leaves no event, outbox entry or repository
  write behind;
- appending no events is a no-op that records no position.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Generic, Protocol, TypeVar

from promptworks_contracts.events import DomainEvent
from promptworks_contracts.projects import ProjectScoped
from promptworks_eventkit.messages import MessageContext, Position, StoredEvent

R_co = TypeVar("R_co", covariant=True)
R = TypeVar("R")

RETRY_MESSAGE = "a concurrent change got in the way; nothing was written, retry the request"


class Transaction(Protocol[R_co]):
    @property
    def repos(self) -> R_co:
        """The service's repositories, bound to this transaction."""
        ...

    @property
    def context(self) -> MessageContext:
        """The context appends use unless they name their own (the request, or a cause)."""
        ...

    @property
    def positions(self) -> Sequence[Position]:
        """Every append of this transaction, in order."""
        ...

    async def version(self, stream_id: str) -> int:
        """The stream's current version; 0 when it has no events."""
        ...

    async def load(
        self, stream_id: str, *, from_version: int = 1, to_version: int | None = None
    ) -> list[StoredEvent]:
        """The stream's events (with envelopes) in version order, optionally a range."""
        ...

    async def append(
        self,
        stream_id: str,
        events: Sequence[DomainEvent],
        expected_version: int,
        *,
        context: MessageContext | None = None,
    ) -> int:
        """Appends after ``expected_version``; returns the stream's version afterwards."""
        ...


class WritePort(Protocol[R_co]):
    def transaction(
        self, context: MessageContext | None = None
    ) -> AbstractAsyncContextManager[Transaction[R_co]]:
        """Opens one unit of work; it commits when the block ends without an exception."""
        ...


async def load_events(tx: Transaction[object], stream_id: str) -> list[DomainEvent]:
    """The stream's events without their envelopes: what an aggregate folds."""
    return [stored.event for stored in await tx.load(stream_id)]


def stamp_project(events: Sequence[DomainEvent], project: str) -> list[DomainEvent]:
    """Creation events (``ProjectScoped``) record the project of the command that created the
    aggregate: the one place it is set, so handlers and domain code never pass it around."""
    return [
        event.model_copy(update={"project_id": project})
        if isinstance(event, ProjectScoped) and event.project_id != project
        else event
        for event in events
    ]


class TransactionBase(ABC, Generic[R]):
    """What every implementation keeps the same way: its repositories, its default context,
    ``append``'s bookkeeping and the positions. Subclasses store events in ``_store_events``."""

    def __init__(self, repos: R, context: MessageContext) -> None:
        self._repos = repos
        self._context = context
        self._positions: list[Position] = []

    @property
    def repos(self) -> R:
        return self._repos

    @property
    def context(self) -> MessageContext:
        return self._context

    @property
    def positions(self) -> Sequence[Position]:
        return self._positions

    async def append(
        self,
        stream_id: str,
        events: Sequence[DomainEvent],
        expected_version: int,
        *,
        context: MessageContext | None = None,
    ) -> int:
        if not events:
            return expected_version
        context = context or self._context
        version = await self._store_events(
            stream_id, stamp_project(events, context.project), expected_version, context
        )
        self._positions.append(Position(stream_id, version))
        return version

    @abstractmethod
    async def _store_events(
        self,
        stream_id: str,
        events: Sequence[DomainEvent],
        expected_version: int,
        context: MessageContext,
    ) -> int:
        """Stores ``events`` (at least one) after ``expected_version``; the version after."""
