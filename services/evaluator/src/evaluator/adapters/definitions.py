"""Lookups of evaluator definitions on PostgreSQL, bound to the command's session."""

from __future__ import annotations

from functools import cache
from uuid import UUID

from pydantic import TypeAdapter
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from evaluator.adapters.tables import evaluator_definitions, evaluator_versions
from promptworks_contracts.values import RECORDED, Assertion
from promptworks_eventkit.messages import MessageContext


@cache
def _assertions() -> TypeAdapter[list[Assertion]]:
    return TypeAdapter(list[Assertion])


class PostgresDefinitionLookups:
    def __init__(self, session: AsyncSession, context: MessageContext | None = None) -> None:
        # Bound to the command's project (ADR 0017): names are unique per project, and another
        # project's evaluator is not found (never locked, versioned or pinned).
        self._session = session
        self._project = (context or MessageContext()).project

    async def claim(self, evaluator_id: UUID, name: str) -> bool:
        """Records a new evaluator under ``name``; False when the name is taken."""
        inserted = await self._session.execute(
            pg_insert(evaluator_definitions)
            .values(
                evaluator_id=str(evaluator_id),
                project_id=self._project,
                name=name,
                latest_version=0,
            )
            .on_conflict_do_nothing()
            .returning(evaluator_definitions.c.evaluator_id)
        )
        return inserted.first() is not None

    async def lock(self, evaluator_id: UUID) -> bool:
        """Locks the evaluator's row for the transaction (versions are added one at a time)."""
        row = await self._session.execute(
            select(evaluator_definitions.c.evaluator_id)
            .where(
                evaluator_definitions.c.evaluator_id == str(evaluator_id),
                evaluator_definitions.c.project_id == self._project,
            )
            .with_for_update()
        )
        return row.first() is not None

    async def add_version(
        self, evaluator_id: UUID, version: int, assertions: list[Assertion]
    ) -> None:
        await self._session.execute(
            pg_insert(evaluator_versions).values(
                evaluator_id=str(evaluator_id),
                version=version,
                assertions=[a.model_dump(mode="json") for a in assertions],
            )
        )
        await self._session.execute(
            update(evaluator_definitions)
            .where(evaluator_definitions.c.evaluator_id == str(evaluator_id))
            .values(latest_version=version)
        )

    async def version(
        self, evaluator_id: UUID, version: int | None
    ) -> tuple[int, list[Assertion]] | None:
        """A version's number and assertions (``None``: the latest); None when unknown."""
        c, d = evaluator_versions.c, evaluator_definitions.c
        query = (
            select(c.version, c.assertions)
            .join(evaluator_definitions, d.evaluator_id == c.evaluator_id)
            .where(c.evaluator_id == str(evaluator_id), d.project_id == self._project)
        )
        if version is None:
            query = query.order_by(c.version.desc()).limit(1)
        else:
            query = query.where(c.version == version)
        row = (await self._session.execute(query)).first()
        if row is None:
            return None
        # Stored definitions were valid when written: read them as recorded facts.
        return row.version, _assertions().validate_python(row.assertions, context=RECORDED)
