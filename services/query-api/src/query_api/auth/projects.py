"""Projects (tenants) on the public API: the store, and which project a request acts in.

A request names its project with ``X-Project``; without it, the key's first granted project
(``default`` for admin and bootstrap keys). An unknown project is a 404 and one the key is not
granted a 403, both naming ``X-Project``. Project ids never change and projects are never
deleted, so a project once seen is cached in memory (an unknown one is asked again: it may
have been created since, by another replica).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_contracts.api.projects import CreateProjectRequest
from promptworks_contracts.projects import DEFAULT_PROJECT
from query_api.api.deps import API_PREFIX
from query_api.tables.projects import projects

UNSCOPED = ("/api-keys", "/admin", "/projects")
"""Paths that act in no project: key and project management, operators' routes."""


def project_scoped(path: str) -> bool:
    """Whether the operation at ``path`` acts in a project (``X-Project`` applies)."""
    if not path.startswith(API_PREFIX + "/"):
        return False
    local = path.removeprefix(API_PREFIX)
    return not any(local == p or local.startswith(p + "/") for p in UNSCOPED)


class ProjectStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._known: set[str] = {DEFAULT_PROJECT}

    async def exists(self, project_id: str) -> bool:
        if project_id in self._known:
            return True
        async with self._sessions() as session:
            found = await session.scalar(select(projects.c.id).where(projects.c.id == project_id))
        if found is not None:
            self._known.add(project_id)
        return found is not None

    async def missing(self, project_ids: Sequence[str]) -> list[str]:
        """The ids among ``project_ids`` that name no project."""
        unknown = [p for p in project_ids if p not in self._known]
        if not unknown:
            return []
        async with self._sessions() as session:
            found = set(
                await session.scalars(select(projects.c.id).where(projects.c.id.in_(unknown)))
            )
        self._known |= found
        return [p for p in unknown if p not in found]

    async def create(self, body: CreateProjectRequest, created_by: str) -> dict[str, Any] | None:
        """The new project's row; None when the id is taken."""
        row = {
            "id": body.id,
            "name": body.name,
            "created_at": datetime.now(UTC),
            "created_by": created_by,
        }
        async with self._sessions.begin() as session:
            created = await session.execute(
                pg_insert(projects).values(**row).on_conflict_do_nothing().returning(projects.c.id)
            )
            if created.first() is None:
                return None
        self._known.add(body.id)
        return row

    async def list(
        self, only: Sequence[str] | None, limit: int, offset: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """Projects by id (``only``: just those; None: all)."""
        where = [] if only is None else [projects.c.id.in_(list(only))]
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(projects).where(*where))
            rows = await session.execute(
                select(projects.c.id, projects.c.name, projects.c.created_at)
                .where(*where)
                .order_by(projects.c.id)
                .limit(limit)
                .offset(offset)
            )
            return int(total or 0), [dict(r._mapping) for r in rows]
