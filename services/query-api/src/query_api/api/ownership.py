"""Isolation by id: an id of another project answers 404, as if it did not exist.

One dependency per router (``owned``): when the route's path names the aggregate's id and the
read model holds it in another project, the request stops with the same 404 an unknown id
gets, so a key never learns that another project's prompt, run or batch exists. An id not (yet)
in the read model passes on: the route answers 404 itself, and the command services check
writes in the project's own state.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import Depends, Request
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_eventkit.errors import NotFoundError
from promptworks_eventkit.runtime import Runtime
from query_api.api.deps import Project
from query_api.tables import batches, runs


def owned(table: Table, id_field: str, noun: str) -> Any:
    """``dependencies=[owned(...)]`` of a router whose paths name ``{<id_field>}``."""

    async def check(request: Request, project: Project) -> None:
        raw = request.path_params.get(id_field)
        if raw is None:
            return
        try:
            value = UUID(str(raw))
        except ValueError:
            return  # the route's own validation answers 422
        # A short session of its own: the request's read session would stay checked out for
        # as long as a streamed answer (live progress, exports) lasts.
        runtime: Runtime = request.app.state.runtime
        async with runtime.sessions() as session:
            await check_owner(session, project, table, id_field, value, noun)

    return Depends(check)


async def check_owner(
    session: AsyncSession,
    project: str,
    table: Table,
    id_field: str,
    value: UUID,
    noun: str,
    field: str | None = None,
) -> None:
    """404 (naming ``field``, by default ``id_field``) when ``value`` is another project's."""
    owner = await session.scalar(select(table.c.project_id).where(table.c[id_field] == value))
    if owner is not None and owner != project:
        raise NotFoundError(f"{noun} {value} does not exist", field=field or id_field)


RUNS_AND_BATCHES = [owned(runs, "run_id", "test run"), owned(batches, "batch_id", "batch")]
"""For routers whose paths name a run or a batch."""
