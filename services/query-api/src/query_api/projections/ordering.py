"""An EventRouter that keeps each stream's order, not the partition's, so batches stay large.

eventkit's EventRouter hands a handler the events of one type that are consecutive in the
partition. Commands append several types at once (PromptCreated + PromptVersionCreated, ...),
so a partition alternates types and those groups shrink to one event: one round trip each.

Here a batch is cut into levels: a stream's events go to successive levels, a run of the same
type staying on one level. Each level is applied in order and, within it, by type: every
stream's events are still applied in stream order, and a level holds one group per type. Order
ACROSS streams is not kept; query-api's projections do not depend on it (classes, tags and
evaluations are joined at read time or reconciled by whichever event comes last).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import groupby

from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import DomainEvent
from promptworks_eventkit.consumer import ReceivedEvent
from promptworks_eventkit.router import EventRouter, TypeHandler


class StreamOrderRouter(EventRouter):
    def __init__(self, table: Mapping[type[DomainEvent], TypeHandler]) -> None:
        super().__init__(table)
        self._handlers = {model.event_type: handler for model, handler in table.items()}

    async def __call__(self, session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
        for level in levels(events):
            by_type = sorted(level, key=lambda e: e.envelope.type)  # stable: stream order kept
            for event_type, group in groupby(by_type, key=lambda e: e.envelope.type):
                await self._handlers[event_type](session, list(group))


def levels(events: Sequence[ReceivedEvent]) -> list[list[ReceivedEvent]]:
    """The events by level: a stream moves one level deeper each time its event type changes."""
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
