"""The write port in memory: for handler and domain tests that need no PostgreSQL or Kafka.

Transactions run one at a time (an ``asyncio.Lock``: the strictest isolation there is) on a
deep copy of the committed state; the copy replaces the state only when the block ends
without an exception, so a failed command leaves nothing behind, exactly as a rolled-back
PostgreSQL transaction. ``repos`` is the service's in-memory repositories object; it must be
deep-copyable (plain data).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from promptworks_contracts.events import DomainEvent
from promptworks_eventkit.errors import ConcurrencyConflictError
from promptworks_eventkit.messages import MessageContext, StoredEvent, new_envelopes
from promptworks_eventkit.writing.port import TransactionBase

R = TypeVar("R")


@dataclass
class _State(Generic[R]):
    repos: R
    streams: dict[str, list[StoredEvent]] = field(default_factory=dict)
    outbox: list[StoredEvent] = field(default_factory=list)


class InMemoryTransaction(TransactionBase[R]):
    def __init__(self, state: _State[R], source: str, context: MessageContext) -> None:
        super().__init__(state.repos, context)
        self._state = state
        self._source = source

    async def version(self, stream_id: str) -> int:
        return len(self._state.streams.get(stream_id, ()))

    async def load(
        self, stream_id: str, *, from_version: int = 1, to_version: int | None = None
    ) -> list[StoredEvent]:
        stored = self._state.streams.get(stream_id, [])
        return stored[from_version - 1 : to_version]

    async def _store_events(
        self,
        stream_id: str,
        events: Sequence[DomainEvent],
        expected_version: int,
        context: MessageContext,
    ) -> int:
        actual = await self.version(stream_id)
        if actual != expected_version:
            raise ConcurrencyConflictError(stream_id, expected_version, actual)
        envelopes = new_envelopes(
            self._source,
            stream_id,
            events,
            expected_version,
            context,
            datetime.now(UTC),
        )
        stored = [
            StoredEvent(envelope, event) for envelope, event in zip(envelopes, events, strict=True)
        ]
        self._state.streams.setdefault(stream_id, []).extend(stored)
        self._state.outbox.extend(stored)
        return envelopes[-1].streamversion


class InMemoryWritePort(Generic[R]):
    def __init__(self, repos: R, source: str = "/in-memory") -> None:
        self._state = _State(repos)
        self._source = source
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(
        self, context: MessageContext | None = None
    ) -> AsyncIterator[InMemoryTransaction[R]]:
        async with self._lock:
            working = copy.deepcopy(self._state)
            yield InMemoryTransaction(working, self._source, context or MessageContext())
            self._state = working

    # What tests look at: the committed state only.

    @property
    def repos(self) -> R:
        return self._state.repos

    @property
    def outbox(self) -> list[StoredEvent]:
        """Every committed event in append order: what a relay would publish."""
        return list(self._state.outbox)

    def stream(self, stream_id: str) -> list[StoredEvent]:
        return list(self._state.streams.get(stream_id, ()))
