"""``RunRepository`` on PostgreSQL, bound to the write port's session: every write commits or
rolls back with the events of the same transaction (``PostgresWritePort(..., repos=
PostgresRunRepository)``). The only SQL on run-orchestrator's own tables is here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import PromptVersionCreated, ProviderState, ResultRecorded
from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_contracts.values import TokenUsage
from promptworks_eventkit.errors import ConflictError
from promptworks_eventkit.messages import MessageContext
from run_orchestrator.adapters.tables import (
    prompt_labels,
    prompt_versions,
    provider_catalog,
    response_cache,
    run_results,
    runs,
)
from run_orchestrator.domain.caching import CachedResponse
from run_orchestrator.domain.commands import LATEST
from run_orchestrator.domain.prompt_version import PromptVersion
from run_orchestrator.handlers.ports import (
    QUEUED,
    UNFINISHED,
    ResultAlreadyRecordedError,
    RunRow,
    StoredProvider,
)

UNIQUE_VIOLATION = "23505"
CACHE_CHUNK = 1000


def version_row(event: PromptVersionCreated, project: str = DEFAULT_PROJECT) -> dict[str, Any]:
    """The ``prompt_versions`` row of a PromptVersionCreated (JSON columns as plain data)."""

    def dump(value: BaseModel | None) -> Any:
        return None if value is None else value.model_dump(mode="json")

    return {
        "version_id": event.version_id,
        "prompt_id": event.prompt_id,
        "number": event.number,
        "label": event.label,
        "template": event.template.model_dump(mode="json"),
        "variables": [v.model_dump(mode="json") for v in event.variables],
        "default_model": dump(event.default_model),
        "default_parameters": dump(event.default_parameters),
        "project_id": project,
    }


class PostgresRunRepository:
    def __init__(self, session: AsyncSession, context: MessageContext | None = None) -> None:
        # The context is not used to filter: the executor works on every project's runs.
        self._session = session

    async def add_versions(
        self, versions: Sequence[PromptVersionCreated], project: str = DEFAULT_PROJECT
    ) -> None:
        # Versions are immutable: one bulk INSERT per batch that ignores rows already present.
        if versions:
            rows = [version_row(v, project) for v in versions]
            await self._session.execute(pg_insert(prompt_versions).on_conflict_do_nothing(), rows)

    async def find_version(self, version_id: UUID) -> PromptVersion | None:
        query = select(
            prompt_versions.c.version_id,
            prompt_versions.c.prompt_id,
            prompt_versions.c.number,
            prompt_versions.c.template,
            prompt_versions.c.variables,
            prompt_versions.c.default_model,
            prompt_versions.c.default_parameters,
            prompt_versions.c.project_id,
        ).where(prompt_versions.c.version_id == version_id)
        row = (await self._session.execute(query)).first()
        return None if row is None else PromptVersion.model_validate(row._asdict())

    async def move_label(self, prompt_id: UUID, label: str, version_id: UUID) -> None:
        statement = pg_insert(prompt_labels).values(
            prompt_id=prompt_id, label=label, version_id=version_id
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[prompt_labels.c.prompt_id, prompt_labels.c.label],
                set_={"version_id": statement.excluded.version_id},
            )
        )

    async def remove_label(self, prompt_id: UUID, label: str) -> None:
        await self._session.execute(
            delete(prompt_labels).where(
                prompt_labels.c.prompt_id == prompt_id, prompt_labels.c.label == label
            )
        )

    async def resolve_label(self, prompt_id: UUID, label: str) -> UUID | None:
        if label == LATEST:
            query = (
                select(prompt_versions.c.version_id)
                .where(prompt_versions.c.prompt_id == prompt_id)
                .order_by(prompt_versions.c.number.desc())
                .limit(1)
            )
        else:
            query = select(prompt_labels.c.version_id).where(
                prompt_labels.c.prompt_id == prompt_id, prompt_labels.c.label == label
            )
        found: UUID | None = (await self._session.execute(query)).scalar()
        return found

    async def add_run(self, run_id: UUID, total_calls: int, project: str = DEFAULT_PROJECT) -> None:
        await self._session.execute(
            insert(runs).values(
                run_id=run_id, status=QUEUED, total_calls=total_calls, project_id=project
            )
        )

    async def find_run(self, run_id: UUID, *, for_update: bool = False) -> RunRow | None:
        query = select(
            runs.c.status,
            runs.c.total_calls,
            runs.c.recorded,
            runs.c.succeeded,
            runs.c.failed,
            runs.c.cost,
            runs.c.cancel_requested_by,
            runs.c.project_id,
        ).where(runs.c.run_id == run_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return None if row is None else RunRow(**row._asdict())

    async def request_cancel(self, run_id: UUID, actor: str) -> None:
        await self._session.execute(
            update(runs)
            .where(runs.c.run_id == run_id)
            .values(cancel_requested_by=actor, updated_at=func.now())
        )

    async def set_status(self, run_id: UUID, status: str) -> None:
        await self._session.execute(
            update(runs).where(runs.c.run_id == run_id).values(status=status, updated_at=func.now())
        )

    async def unfinished_runs(self, limit: int) -> list[UUID]:
        query = (
            select(runs.c.run_id)
            .where(runs.c.status.in_(UNFINISHED))
            .order_by(runs.c.created_at)
            .limit(limit)
        )
        return list((await self._session.scalars(query)).all())

    async def find_provider(self, name: str, project: str) -> StoredProvider | None:
        c = provider_catalog.c
        query = select(provider_catalog).where(c.project_id == project, c.name == name)
        row = (await self._session.execute(query)).first()
        return None if row is None else _provider(row)

    async def list_providers(self, project: str | None = None) -> list[StoredProvider]:
        c = provider_catalog.c
        query = select(provider_catalog).order_by(c.name, c.project_id)
        if project is not None:
            query = query.where(c.project_id == project)
        return [_provider(row) for row in await self._session.execute(query)]

    async def save_provider(self, provider: StoredProvider) -> None:
        values = {
            "provider_id": provider.provider_id,
            "project_id": provider.project_id,
            "name": provider.state.name,
            "state": provider.state.model_dump(mode="json"),
            "secret": provider.secret,
        }
        statement = pg_insert(provider_catalog).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[provider_catalog.c.provider_id],
            set_={**values, "updated_at": func.now()},
        )
        try:
            await self._session.execute(statement)
        except IntegrityError as error:
            if getattr(error.orig, "sqlstate", None) != UNIQUE_VIOLATION:
                raise
            raise ConflictError(
                f"provider {provider.state.name!r} exists", field="name", rule="duplicate"
            ) from error

    async def delete_provider(self, provider_id: UUID) -> None:
        await self._session.execute(
            delete(provider_catalog).where(provider_catalog.c.provider_id == provider_id)
        )

    async def cached_responses(
        self, keys: Sequence[str], not_before: datetime
    ) -> dict[str, CachedResponse]:
        c = response_cache.c
        found: dict[str, CachedResponse] = {}
        for start in range(0, len(keys), CACHE_CHUNK):
            query = select(c.key, c.output, c.usage, c.finish_reason).where(
                c.key.in_(keys[start : start + CACHE_CHUNK]), c.created_at >= not_before
            )
            for key, output, usage, finish_reason in await self._session.execute(query):
                found[key] = CachedResponse(output, TokenUsage.model_validate(usage), finish_reason)
        return found

    async def store_responses(self, entries: Sequence[tuple[str, CachedResponse]]) -> None:
        if entries:
            rows = [
                {
                    "key": key,
                    "output": answer.output,
                    "usage": answer.usage.model_dump(mode="json"),
                    "finish_reason": answer.finish_reason,
                }
                for key, answer in entries
            ]
            await self._session.execute(pg_insert(response_cache).on_conflict_do_nothing(), rows)

    async def failed_pairs(self, run_id: UUID) -> list[tuple[int, int]]:
        query = (
            select(run_results.c.case_index, run_results.c.repetition)
            .where(run_results.c.run_id == run_id, run_results.c.failed)
            .order_by(run_results.c.case_index, run_results.c.repetition)
        )
        return [(case, repetition) for case, repetition in await self._session.execute(query)]

    async def recorded_pairs(self, run_id: UUID) -> set[tuple[int, int]]:
        query = select(run_results.c.case_index, run_results.c.repetition).where(
            run_results.c.run_id == run_id
        )
        return {(case, repetition) for case, repetition in await self._session.execute(query)}

    async def record_results(self, run_id: UUID, results: Sequence[ResultRecorded]) -> None:
        if not results:
            return
        succeeded = sum(1 for r in results if r.error is None)
        costs = [r.cost.amount for r in results if r.cost is not None]
        try:
            # One statement for the batch (arrays, encoded by asyncpg in C): SQLAlchemy's
            # executemany prepared a parameter set per row in Python (ADR 0021).
            await self._session.execute(
                RECORD_RESULTS,
                {
                    "run_id": run_id,
                    "case_indexes": [r.case_index for r in results],
                    "repetitions": [r.repetition for r in results],
                    "result_ids": [r.result_id for r in results],
                    "failed": [r.error is not None for r in results],
                    "recorded": len(results),
                    "succeeded": succeeded,
                    "failed_count": len(results) - succeeded,
                    "cost": sum(costs) if costs else None,
                },
            )
        except IntegrityError as error:
            # The primary key (run_id, case_index, repetition): another writer recorded it.
            if getattr(error.orig, "sqlstate", None) != UNIQUE_VIOLATION:
                raise
            raise ResultAlreadyRecordedError(run_id) from error


RECORD_RESULTS = text(
    """
    WITH recorded AS (
        INSERT INTO run_results (run_id, case_index, repetition, result_id, failed)
        SELECT :run_id, * FROM unnest(
            CAST(:case_indexes AS integer[]), CAST(:repetitions AS integer[]),
            CAST(:result_ids AS uuid[]), CAST(:failed AS boolean[])
        )
    )
    UPDATE runs SET
        recorded = recorded + :recorded,
        succeeded = succeeded + :succeeded,
        failed = failed + :failed_count,
        cost = CASE WHEN CAST(:cost AS numeric) IS NULL THEN cost
                    ELSE coalesce(cost, 0) + CAST(:cost AS numeric) END,
        updated_at = now()
    WHERE run_id = :run_id
    """
)
"""A batch's results and the run's counters, in one statement."""


def _provider(row: Any) -> StoredProvider:
    return StoredProvider(
        row.provider_id,
        ProviderState.model_validate(row.state),
        None if row.secret is None else bytes(row.secret),
        row.project_id,
    )
