"""Prompt events that move pointers or flags: labels, the current version, archive/restore.

Labels live twice: ``prompt_labels`` (one row per pointer, for the by-label lookup) and
``prompts.labels`` (a JSON object, for lists and the ``label`` filter); both change in the
same statement batch. Within a handler's events the last move of a (prompt, label) wins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, Subquery, Text, delete, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from promptworks_contracts.events import (
    PromptArchived,
    PromptCurrentVersionSet,
    PromptLabelMoved,
    PromptLabelRemoved,
)
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import typed
from query_api.projections import counts
from query_api.projections._util import (
    any_of,
    jsonb_text,
    last_per_key,
    unnest_rows,
    unnest_source,
)
from query_api.projections.prompt_rows import CURRENT_VERSION, ID, update_prompts
from query_api.tables import prompt_labels, prompts

p = prompts.c


async def on_label_moved(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    moves = last_per_key(
        (
            (event.prompt_id, event.label),
            {
                "prompt_id": event.prompt_id,
                "label": event.label,
                "version_id": event.version_id,
                "version_number": event.version_number,
                "updated_at": received.envelope.time,
            },
        )
        for received, event in typed(events, PromptLabelMoved)
    )
    names, source = unnest_rows(prompt_labels, moves)
    statement = pg_insert(prompt_labels).from_select(names, source)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[prompt_labels.c.prompt_id, prompt_labels.c.label],
            set_={
                "version_id": statement.excluded.version_id,
                "version_number": statement.excluded.version_number,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )
    patches: dict[UUID, dict[str, int]] = {}
    for move in moves:
        patches.setdefault(move["prompt_id"], {})[move["label"]] = move["version_number"]
    rows = {k: {"patch": jsonb_text(v)} for k, v in patches.items()}
    await update_prompts(session, events, LABEL_PATCH, rows, _labels_patched)


async def on_label_removed(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    removed: dict[UUID, list[str]] = {}
    for _, event in typed(events, PromptLabelRemoved):
        removed.setdefault(event.prompt_id, []).append(event.label)
    pairs = unnest_source(
        {"prompt_id": ID, "label": Text()},
        [{"prompt_id": k, "label": label} for k, labels in removed.items() for label in labels],
        name="pairs",
    )
    await session.execute(
        delete(prompt_labels).where(
            prompt_labels.c.prompt_id == pairs.c.prompt_id, prompt_labels.c.label == pairs.c.label
        )
    )
    rows = {k: {"labels": v} for k, v in removed.items()}
    await update_prompts(session, events, LABELS_REMOVED, rows, _labels_removed)


async def on_current_version_set(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    latest = {
        event.prompt_id: {"version_id": event.version_id, "number": event.version_number}
        for _, event in typed(events, PromptCurrentVersionSet)
    }
    await update_prompts(session, events, CURRENT_VERSION, latest, _current_version_set)


async def on_archived_or_restored(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    """Archived and restored events are routed here one type at a time. The prompts whose
    flag really flips are read first (this consumer is their stream's only writer), so the
    counts move by exact deltas."""
    archived = isinstance(events[0].event, PromptArchived)
    partition = {UUID(received.envelope.subject): received.partition for received in events}
    flipped = await session.execute(
        select(p.prompt_id, p.project_id).where(
            any_of(p.prompt_id, list(partition)), p.archived != archived
        )
    )
    moved = Counter((partition[prompt_id], project) for prompt_id, project in flipped)
    rows = {prompt_id: {"archived": archived} for prompt_id in partition}
    await update_prompts(session, events, ARCHIVED, rows, _archived)
    await counts.add(
        session, Counter(), Counter({k: -v if archived else v for k, v in moved.items()})
    )


# What each handler's prompt update sets: declared once, so each statement is compiled once.
LABEL_PATCH: dict[str, TypeEngine[Any]] = {"patch": JSONB()}
LABELS_REMOVED: dict[str, TypeEngine[Any]] = {"labels": ARRAY(Text())}
ARCHIVED: dict[str, TypeEngine[Any]] = {"archived": Boolean()}


def _labels_patched(batch: Subquery) -> dict[str, Any]:
    return {"labels": p.labels.op("||")(batch.c.patch)}


def _labels_removed(batch: Subquery) -> dict[str, Any]:
    return {"labels": p.labels.op("-")(batch.c.labels)}


def _current_version_set(batch: Subquery) -> dict[str, Any]:
    return {"current_version_id": batch.c.version_id, "current_version_number": batch.c.number}


def _archived(batch: Subquery) -> dict[str, Any]:
    return {"archived": batch.c.archived}
