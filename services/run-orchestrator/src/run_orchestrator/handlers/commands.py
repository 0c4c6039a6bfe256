"""Command handler of POST /runs: resolve the version, plan, append RunCreated + runs row.

The RunCreated event and the executor's ``runs`` row are written in ONE transaction, so the
executor never sees a run without its snapshot, nor a snapshot it does not know to execute.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.messages import MessageContext
from run_orchestrator.domain.commands import CreateRun
from run_orchestrator.domain.planning import plan_run
from run_orchestrator.domain.prompt_version import PromptVersion
from run_orchestrator.providers.registry import ProviderRegistry
from run_orchestrator.tables import prompt_versions, runs

VERSION_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class RunAccepted:
    run_id: UUID
    status: str
    total_calls: int
    stream_version: int


class RunHandlers:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: EventStore,
        providers: ProviderRegistry,
        *,
        prompt_wait_seconds: float,
        on_run_created: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._providers = providers
        self._prompt_wait = prompt_wait_seconds
        self._on_run_created = on_run_created

    async def create_run(self, command: CreateRun, context: MessageContext) -> RunAccepted:
        if not self._providers.is_configured(command.model.provider):
            raise DomainError(
                f"provider {command.model.provider!r} is not configured; "
                f"configured providers: {self._providers.names()}",
                field="provider",
                rule="unknown_provider",
            )
        version = await self._await_version(command.prompt_version_id)
        run_id = uuid.uuid4()
        # Rendering 10,000 cases takes a while: keep the event loop free for running runs.
        created = await asyncio.to_thread(plan_run, run_id, command, version)
        async with self._sessions() as session, session.begin():
            envelopes = await self._store.append(session, str(run_id), [created], 0, context)
            await session.execute(
                insert(runs).values(
                    run_id=run_id, status="pending", total_calls=created.total_calls
                )
            )
        self._on_run_created()
        return RunAccepted(run_id, "pending", created.total_calls, envelopes[-1].streamversion)

    async def _await_version(self, version_id: UUID) -> PromptVersion:
        """The local copy may lag a prompt created a moment ago: wait for it, bounded."""
        deadline = time.monotonic() + self._prompt_wait
        while True:
            async with self._sessions() as session:
                row = (
                    await session.execute(
                        select(
                            prompt_versions.c.version_id,
                            prompt_versions.c.prompt_id,
                            prompt_versions.c.number,
                            prompt_versions.c.template,
                            prompt_versions.c.variables,
                        ).where(prompt_versions.c.version_id == version_id)
                    )
                ).first()
            if row is not None:
                return PromptVersion.model_validate(row._asdict())
            if time.monotonic() >= deadline:
                raise DomainError(
                    f"prompt version {version_id} does not exist",
                    field="prompt_version_id",
                    rule="not_found",
                )
            await asyncio.sleep(VERSION_POLL_SECONDS)
