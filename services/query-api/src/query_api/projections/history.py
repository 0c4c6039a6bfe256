"""``prompt_history``: one row per event of a prompt's stream.

Every prompt handler is wrapped by ``with_history``, which after the handler (same
transaction) inserts the events' history rows. A row keeps what its sentence needs
(``details``); the sentence itself is written at read time, so a class or tag named in it
shows its current name and a rebuild gives the same rows whatever order other aggregates'
events arrive in.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Subquery, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import (
    PromptCreated,
    PromptCurrentVersionSet,
    PromptLabelMoved,
    PromptLabelRemoved,
    PromptMetadataEdited,
    PromptVersionCreated,
)
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import TypeHandler
from query_api.projections._util import any_of, column_types, columns_of, jsonb_text
from query_api.projections.batched import execute_batched
from query_api.tables import prompt_history, prompts

p = prompts.c
Metadata = tuple[UUID | None, list[UUID]]
"""A prompt's (class_id, tag_ids) before an edit."""


def with_history(handler: TypeHandler[AsyncSession]) -> TypeHandler[AsyncSession]:
    async def handle(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
        before: dict[UUID, Metadata] = {}
        if isinstance(events[0].event, PromptMetadataEdited):
            before = await _metadata(session, events)
        await handler(session, events)
        await _record(session, events, before)

    return handle


@functools.cache
def event_name(event_type: str) -> str:
    """``promptworks.prompt.version_created.v1`` -> ``version_created``."""
    return event_type.split(".")[2]


def details(event: Any, before: dict[UUID, Metadata]) -> tuple[str, dict[str, Any]]:
    """(message, details) of one prompt event. ``before`` is updated by metadata edits."""
    if isinstance(event, PromptCreated):
        return "", {"name": event.name, "class_id": _str(event.class_id)}
    if isinstance(event, PromptVersionCreated):
        return event.commit_message, {"number": event.number, "label": event.label}
    if isinstance(event, PromptLabelMoved):
        return event.message, {
            "label": event.label,
            "version_number": event.version_number,
            "previous_version_number": event.previous_version_number,
        }
    if isinstance(event, PromptLabelRemoved):
        return event.message, {
            "label": event.label,
            "previous_version_number": event.previous_version_number,
        }
    if isinstance(event, PromptCurrentVersionSet):
        return event.message, {
            "version_number": event.version_number,
            "previous_version_number": event.previous_version_number,
        }
    if isinstance(event, PromptMetadataEdited):
        class_before, tags_before = before.get(event.prompt_id, (None, []))
        before[event.prompt_id] = (event.class_id, list(event.tag_ids))
        return event.message, {
            "changed": list(event.changed),
            "name": event.name,
            "author": event.author,
            "class_id": _str(event.class_id),
            "previous_class_id": _str(class_before),
            "tags_added": [str(t) for t in event.tag_ids if t not in tags_before],
            "tags_removed": [str(t) for t in tags_before if t not in event.tag_ids],
        }
    return str(getattr(event, "message", "")), {}


async def _metadata(session: AsyncSession, events: Sequence[ReceivedEvent]) -> dict[UUID, Metadata]:
    ids = [UUID(i) for i in {received.envelope.subject for received in events}]
    rows = await session.execute(
        select(p.prompt_id, p.class_id, p.tag_ids).where(any_of(p.prompt_id, ids))
    )
    return {prompt_id: (class_id, list(tag_ids)) for prompt_id, class_id, tag_ids in rows}


async def _record(
    session: AsyncSession, events: Sequence[ReceivedEvent], before: dict[UUID, Metadata]
) -> None:
    rows = []
    prompt_ids: dict[str, UUID] = {}  # a prompt's events come together: parsed once
    for received in events:
        message, detail = details(received.event, before)
        subject = received.envelope.subject
        prompt_id = prompt_ids.get(subject)
        if prompt_id is None:
            prompt_id = prompt_ids[subject] = UUID(subject)
        rows.append(
            {
                "prompt_id": prompt_id,
                "stream_version": received.envelope.streamversion,
                "type": event_name(received.envelope.type),
                "actor": str(getattr(received.event, "actor", "")),
                "at": received.envelope.time,
                "message": message,
                "details": jsonb_text(detail),
            }
        )
    types = column_types(prompt_history, rows)
    await execute_batched(session, _insert_history, {"batch": (types, rows)})


def _insert_history(batch: Subquery) -> Any:
    return pg_insert(prompt_history).from_select(*columns_of(batch)).on_conflict_do_nothing()


def _str(value: UUID | None) -> str | None:
    return None if value is None else str(value)
