"""Prompt events -> ``prompts`` and ``prompt_versions``.

The current version is the highest-numbered one; version numbers are gapless from 1, so the
highest number is also the version count. Every write is monotonic (GREATEST, or only when
newer), so applying the same batch twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, case, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import PromptCreated, PromptVersionCreated
from promptworks_eventkit.consumer import ReceivedEvent
from query_api.projections._util import typed, update_many
from query_api.tables import prompt_versions, prompts


async def on_prompt_created(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    rows = [
        {
            "prompt_id": event.prompt_id,
            "name": event.name,
            "description": event.description,
            "author": event.author,
            "class_name": event.class_name,
            "tags": list(event.tags),
            "current_version_id": None,
            "current_version_number": None,
            "version_count": 0,
            "created_at": received.envelope.time,
            "updated_at": received.envelope.time,
            "stream_version": received.envelope.streamversion,
        }
        for received, event in typed(events, PromptCreated)
    ]
    await session.execute(pg_insert(prompts).on_conflict_do_nothing(), rows)


async def on_version_created(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    pairs = typed(events, PromptVersionCreated)
    rows = [
        {
            "version_id": event.version_id,
            "prompt_id": event.prompt_id,
            "number": event.number,
            "label": event.label,
            "template": event.template.model_dump(mode="json"),
            "variables": [v.model_dump(mode="json") for v in event.variables],
            "default_model": _json_or_none(event.default_model),
            "default_parameters": _json_or_none(event.default_parameters),
            "commit_message": event.commit_message,
            "author": event.author,
            "created_at": received.envelope.time,
        }
        for received, event in pairs
    ]
    await session.execute(pg_insert(prompt_versions).on_conflict_do_nothing(), rows)

    latest: dict[UUID, dict[str, Any]] = {}
    for received, event in pairs:
        current = latest.setdefault(
            event.prompt_id,
            {
                "b_prompt_id": event.prompt_id,
                "b_number": 0,
                "b_time": received.envelope.time,
                "b_stream_version": 0,
            },
        )
        if event.number > current["b_number"]:
            current["b_number"], current["b_version_id"] = event.number, event.version_id
        current["b_time"] = max(current["b_time"], received.envelope.time)
        current["b_stream_version"] = max(
            current["b_stream_version"], received.envelope.streamversion
        )
    p = prompts.c
    number = func.coalesce(p.current_version_number, 0)
    statement = (
        update(prompts)
        .where(p.prompt_id == bindparam("b_prompt_id"))
        .values(
            current_version_id=case(
                (number < bindparam("b_number"), bindparam("b_version_id")),
                else_=p.current_version_id,
            ),
            current_version_number=func.greatest(number, bindparam("b_number")),
            version_count=func.greatest(p.version_count, bindparam("b_number")),
            updated_at=func.greatest(p.updated_at, bindparam("b_time")),
            stream_version=func.greatest(p.stream_version, bindparam("b_stream_version")),
        )
    )
    await update_many(session, statement, list(latest.values()))


def _json_or_none(value: Any) -> Any:
    return None if value is None else value.model_dump(mode="json")
