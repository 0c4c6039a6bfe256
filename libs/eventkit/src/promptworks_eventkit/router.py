"""Routes a consumer's events to one handler per event type, through one readable table.

Consecutive events of the same type are handed over together, so a handler can write them with
one bulk statement while the partition's order between different types is kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from itertools import groupby

from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import DomainEvent
from promptworks_eventkit.consumer import ReceivedEvent

TypeHandler = Callable[[AsyncSession, Sequence[ReceivedEvent]], Awaitable[None]]


class EventRouter:
    def __init__(self, table: Mapping[type[DomainEvent], TypeHandler]) -> None:
        self._by_type = {model.event_type: handler for model, handler in table.items()}
        self._topics = sorted({model.topic for model in table})

    def handles(self, event_type: str) -> bool:
        return event_type in self._by_type

    @property
    def topics(self) -> list[str]:
        """The logical topics that carry the routed event types."""
        return list(self._topics)

    async def __call__(self, session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
        for event_type, group in groupby(events, key=lambda e: e.envelope.type):
            await self._by_type[event_type](session, list(group))
