"""Isolation by id: an id of another project answers 404, as if it did not exist.

One dependency per router (``owned``): when the route's path names the aggregate's id and the
read model holds it in another project, the request stops with the same 404 an unknown id
gets, so a key never learns that another project's prompt, run or batch exists. An id not (yet)
in the read model passes on: the route answers 404 itself, and the command services check
writes in the project's own state.

An aggregate's project is set by its creation event and never changes (ADR 0017), so each
process remembers the owners it has read (``Owners``): paging through one run costs the check
one read, not one per page. Ids not (yet) in the read model are not remembered.
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


class Owners:
    """Project of each aggregate id this process has read, bounded (cleared when full)."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self._max_entries = max_entries
        self._projects: dict[tuple[str, UUID], str] = {}

    def get(self, table: Table, value: UUID) -> str | None:
        return self._projects.get((table.name, value))

    def put(self, table: Table, value: UUID, project: str) -> None:
        if len(self._projects) >= self._max_entries:
            self._projects.clear()
        self._projects[(table.name, value)] = project


async def owner_of(state: Any, table: Table, id_field: str, value: UUID) -> str | None:
    """The project of aggregate ``value`` (None while the read model does not hold it), as
    the process remembers it (``state.owners``) or read in a short session of its own: the
    request's read session would stay checked out for as long as a streamed answer (live
    progress, exports) lasts. ``state``: the app's."""
    owners: Owners | None = getattr(state, "owners", None)
    owner = owners.get(table, value) if owners is not None else None
    if owner is None:
        runtime: Runtime = state.runtime
        async with runtime.sessions() as session:
            owner = await session.scalar(
                select(table.c.project_id).where(table.c[id_field] == value)
            )
        if owner is not None and owners is not None:
            owners.put(table, value, owner)
    return owner


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
        owner = await owner_of(request.app.state, table, id_field, value)
        if owner is not None and owner != project:
            raise NotFoundError(f"{noun} {value} does not exist", field=id_field)

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
