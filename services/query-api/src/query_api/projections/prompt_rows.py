"""One UPDATE per handler call for the prompts its events belong to.

Every prompt row change also moves the prompt's freshness (``stream_version``, ``updated_at``)
to its last event here, in the SAME statement: ``updated_at`` is indexed, so no update of a
prompt is HOT and each one writes to every index of ``prompts``; one write instead of two
halves that cost in bulk loads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, Integer, Subquery, func, update
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from promptworks_eventkit.messages import ReceivedEvent
from query_api.projections.batched import execute_batched
from query_api.tables import prompts

p = prompts.c
ID = PG_UUID(as_uuid=True)
Values = Callable[[Subquery], Mapping[str, Any]]
FRESHNESS: Mapping[str, TypeEngine[Any]] = {
    "prompt_id": ID,
    "sv": Integer(),
    "at": DateTime(timezone=True),
}
CURRENT_VERSION: Mapping[str, TypeEngine[Any]] = {"version_id": ID, "number": Integer()}
"""The fields of a handler that moves a prompt's current version."""


async def update_prompts(
    session: AsyncSession,
    events: Sequence[ReceivedEvent],
    fields: Mapping[str, TypeEngine[Any]],
    rows: Mapping[UUID, Mapping[str, Any]],
    values: Values,
) -> None:
    """``rows`` holds ``fields`` for each prompt of ``events``; ``values(batch)`` says what to
    set from them (``batch.c.<field>``). The statement is compiled once per ``values``
    (``batched``): ``fields`` and ``values`` are declared once, at module level, not per call."""
    fresh: dict[UUID, tuple[int, Any]] = {}
    for received in events:  # in stream order: the last event of a prompt is its newest
        fresh[UUID(received.envelope.subject)] = (
            received.envelope.streamversion,
            received.envelope.time,
        )
    data = [
        {"prompt_id": prompt_id, "sv": sv, "at": at, **rows.get(prompt_id, {})}
        for prompt_id, (sv, at) in fresh.items()
    ]
    types = {**FRESHNESS, **fields}
    await execute_batched(session, _update, {"batch": (types, data)}, variant=values)


def _update(values: Values, batch: Subquery) -> Any:
    return (
        update(prompts)
        .where(p.prompt_id == batch.c.prompt_id)
        .values(
            stream_version=func.greatest(p.stream_version, batch.c.sv),
            updated_at=func.greatest(p.updated_at, batch.c.at),
            **values(batch),
        )
    )
