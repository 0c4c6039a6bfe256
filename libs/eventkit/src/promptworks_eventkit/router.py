"""Routes a consumer's events to one handler per event type, through one readable table.

Two orders, chosen per consumer:
- ``partition`` (default): consecutive events of one type are handed over together; the
  partition's order between types is kept exactly.
- ``stream``: each stream's (aggregate's) order is kept, order ACROSS streams is not. Commands
  append several types at once (PromptCreated + PromptVersionCreated, ...), so a partition
  alternates types and partition-ordered groups shrink to one event; stream order keeps a
  batch in a few large groups. Only for consumers whose effects do not depend on the order of
  different aggregates (for example read models that join at read time).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from itertools import groupby
from typing import Generic, Literal, TypeVar

from promptworks_contracts.events import DomainEvent
from promptworks_eventkit.messages import ReceivedEvent

W = TypeVar("W")
"""What a handler works in: a query-api projection gets the consumer's database session, an
event-emitting consumer a write-port transaction joined to that session."""

TypeHandler = Callable[[W, Sequence[ReceivedEvent]], Awaitable[None]]


class EventRouter(Generic[W]):
    def __init__(
        self,
        table: Mapping[type[DomainEvent], TypeHandler[W]],
        order: Literal["partition", "stream"] = "partition",
    ) -> None:
        self._by_type = {model.event_type: handler for model, handler in table.items()}
        self._topics = sorted({model.topic for model in table})
        self._order = order

    def handles(self, event_type: str) -> bool:
        return event_type in self._by_type

    @property
    def topics(self) -> list[str]:
        """The logical topics that carry the routed event types."""
        return list(self._topics)

    async def __call__(self, work: W, events: Sequence[ReceivedEvent]) -> None:
        if self._order == "partition":
            await self._by_groups(work, events)
            return
        for level in stream_levels(events):
            # A stable sort by type keeps each stream's order within its group.
            await self._by_groups(work, sorted(level, key=lambda e: e.envelope.type))

    async def _by_groups(self, work: W, events: Sequence[ReceivedEvent]) -> None:
        for event_type, group in groupby(events, key=lambda e: e.envelope.type):
            await self._by_type[event_type](work, list(group))


def stream_levels(events: Sequence[ReceivedEvent]) -> list[list[ReceivedEvent]]:
    """The events by level: a stream moves one level deeper each time its event type changes,
    so applying the levels in order applies every stream's events in stream order."""
    result: list[list[ReceivedEvent]] = []
    last: dict[tuple[str, str], tuple[str, int]] = {}
    for event in events:
        key = (event.topic, event.envelope.subject)
        previous = last.get(key)
        if previous is None:
            level = 0
        elif previous[0] == event.envelope.type:
            level = previous[1]
        else:
            level = previous[1] + 1
        last[key] = (event.envelope.type, level)
        if level == len(result):
            result.append([])
        result[level].append(event)
    return result


E = TypeVar("E", bound=DomainEvent)


def typed(events: Sequence[ReceivedEvent], model: type[E]) -> list[tuple[ReceivedEvent, E]]:
    """The events with their data narrowed to ``model``: a handler's view of the group the
    router handed it (the router routes one type per handler, so anything else is a bug)."""
    pairs: list[tuple[ReceivedEvent, E]] = []
    for received in events:
        event = received.event
        if not isinstance(event, model):
            raise TypeError(f"expected {model.__name__}, got {type(event).__name__}")
        pairs.append((received, event))
    return pairs
