"""Class and tag events -> ``prompt_classes``, ``prompt_tags``.

Classes and tags are few and change rarely, so plain multi-row statements do. Prompts hold ids
only; the stored list documents of the prompts naming a class or tag are re-rendered after
the batch's handlers (``prompt_documents.render_batch``, one statement), so a class or tag
applied after the prompts that use it shows up on them at once. A deleted class
or tag loses its row (prompt-service deletes only unused ones, detaching prompts first).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import (
    PromptClassCreated,
    PromptClassDeleted,
    PromptClassUpdated,
    PromptTagCreated,
    PromptTagDeleted,
    PromptTagUpdated,
)
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import typed
from query_api.projections._util import any_of, last_per_key, update_many
from query_api.tables import prompt_classes, prompt_tags


def _fields(received: ReceivedEvent) -> dict[str, Any]:
    event = received.event
    if isinstance(event, PromptClassCreated | PromptClassUpdated):
        return {"class_id": event.class_id, "name": event.name, "description": event.description}
    assert isinstance(event, PromptTagCreated | PromptTagUpdated)
    return {"tag_id": event.tag_id, "name": event.name, "color": event.color}


def _project(received: ReceivedEvent) -> str:
    event = received.event
    assert isinstance(event, PromptClassCreated | PromptTagCreated)
    return event.project_id


def _table(received: ReceivedEvent) -> tuple[Table, str]:
    if isinstance(received.event, PromptClassCreated | PromptClassUpdated):
        return prompt_classes, "class_id"
    return prompt_tags, "tag_id"


async def on_created(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    """PromptClassCreated or PromptTagCreated (one type per call)."""
    table, _ = _table(events[0])
    rows = [
        {
            **_fields(received),
            "project_id": _project(received),
            "created_at": received.envelope.time,
            "updated_at": received.envelope.time,
            "stream_version": received.envelope.streamversion,
        }
        for received in events
    ]
    await session.execute(pg_insert(table).on_conflict_do_nothing(), rows)


async def on_updated(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    """PromptClassUpdated or PromptTagUpdated: the full state after the change; last wins."""
    table, key = _table(events[0])
    rows = last_per_key(
        (
            received.envelope.subject,
            {
                **{f"b_{k}": v for k, v in _fields(received).items()},
                "b_updated_at": received.envelope.time,
                "b_stream_version": received.envelope.streamversion,
            },
        )
        for received in events
    )
    values: dict[str, Any] = {name[2:]: bindparam(name) for name in rows[0] if name != f"b_{key}"}
    statement = update(table).where(table.c[key] == bindparam(f"b_{key}")).values(**values)
    await update_many(session, statement, rows)


async def on_class_deleted(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    ids = [event.class_id for _, event in typed(events, PromptClassDeleted)]
    await session.execute(delete(prompt_classes).where(any_of(prompt_classes.c.class_id, ids)))


async def on_tag_deleted(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    ids = [event.tag_id for _, event in typed(events, PromptTagDeleted)]
    await session.execute(delete(prompt_tags).where(any_of(prompt_tags.c.tag_id, ids)))
