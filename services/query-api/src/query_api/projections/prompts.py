"""Prompt events that create rows or rewrite a prompt's fields -> ``prompts``, ``prompt_versions``.

Handlers get one type's events of many prompts (and maybe several of one prompt, in stream
order) and write them with a few set-based statements. Stream version and ``updated_at`` are
moved in the same UPDATE (``prompt_rows.update_prompts``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Subquery, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from promptworks_contracts.events import PromptCreated, PromptMetadataEdited, PromptVersionCreated
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import typed
from query_api.projections import counts
from query_api.projections._util import column_types, columns_of, jsonb_text
from query_api.projections.batched import execute_batched
from query_api.projections.prompt_rows import CURRENT_VERSION, ID, update_prompts
from query_api.projections.variables import variables_report
from query_api.tables import prompt_versions, prompts

p = prompts.c


async def on_prompt_created(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    rows = [
        {
            "prompt_id": event.prompt_id,
            "project_id": event.project_id,
            "name": event.name,
            "description": event.description,
            "author": event.author,
            "class_id": event.class_id,
            "tag_ids": list(event.tag_ids),
            "labels": "{}",
            "archived": False,
            "current_version_id": None,
            "current_version_number": None,
            "version_count": 0,
            "created_at": received.envelope.time,
            "updated_at": received.envelope.time,
            "stream_version": received.envelope.streamversion,
        }
        for received, event in typed(events, PromptCreated)
    ]
    types = column_types(prompts, rows)
    inserted = await execute_batched(session, _insert_prompts, {"batch": (types, rows)})
    partition = {UUID(received.envelope.subject): received.partition for received in events}
    new = Counter((partition[prompt_id], project) for prompt_id, project in inserted)
    await counts.add(session, new, new)


async def on_version_created(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    pairs = typed(events, PromptVersionCreated)
    rows = [
        {
            "version_id": event.version_id,
            "prompt_id": event.prompt_id,
            "number": event.number,
            "label": event.label,
            "template": event.template.model_dump_json(),
            "variables": _json_list(event.variables),
            "default_model": _json_or_none(event.default_model),
            "default_parameters": _json_or_none(event.default_parameters),
            "commit_message": event.commit_message,
            "author": event.author,
            "created_at": received.envelope.time,
            "variables_report": jsonb_text(variables_report(event.template, list(event.variables))),
            "origin": _json_or_none(event.origin),
        }
        for received, event in pairs
    ]
    types = column_types(prompt_versions, rows)
    await execute_batched(session, _insert_versions, {"batch": (types, rows)})
    # The new version becomes the current one; numbers are gapless, so the highest is the count.
    latest = {e.prompt_id: {"version_id": e.version_id, "number": e.number} for _, e in pairs}
    await update_prompts(session, events, CURRENT_VERSION, latest, _new_current_version)


def _new_current_version(batch: Subquery) -> dict[str, Any]:
    return {
        "current_version_id": batch.c.version_id,
        "current_version_number": batch.c.number,
        "version_count": batch.c.number,
    }


METADATA: dict[str, TypeEngine[Any]] = {
    "name": Text(),
    "description": Text(),
    "author": Text(),
    "class_id": ID,
    "tag_ids": ARRAY(ID),
}
"""The fields of ``PromptMetadataEdited`` a prompt's row takes."""


def _metadata(batch: Subquery) -> dict[str, Any]:
    return {name: batch.c[name] for name in METADATA}


async def on_metadata_edited(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    """The event carries the full metadata after the edit: the last one of a prompt wins."""
    latest = {
        event.prompt_id: {
            "name": event.name,
            "description": event.description,
            "author": event.author,
            "class_id": event.class_id,
            "tag_ids": list(event.tag_ids),
        }
        for _, event in typed(events, PromptMetadataEdited)
    }
    await update_prompts(session, events, METADATA, latest, _metadata)


def _insert_prompts(batch: Subquery) -> Any:
    statement = pg_insert(prompts).from_select(*columns_of(batch)).on_conflict_do_nothing()
    return statement.returning(prompts.c.prompt_id, prompts.c.project_id)


def _insert_versions(batch: Subquery) -> Any:
    return pg_insert(prompt_versions).from_select(*columns_of(batch)).on_conflict_do_nothing()


def _json_list(values: Sequence[Any]) -> str:
    return "[" + ",".join(value.model_dump_json() for value in values) + "]"


def _json_or_none(value: Any) -> str | None:
    return None if value is None else str(value.model_dump_json())
