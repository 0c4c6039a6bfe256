"""Command handler of POST /runs: resolve the version, plan, append RunCreated + the run.

The RunCreated event and the executor's run (``pending``) are written in ONE transaction, so
the executor never sees a run without its snapshot, nor a snapshot it does not know to execute.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.messages import MessageContext, Position
from promptworks_eventkit.writing.port import WritePort
from run_orchestrator.domain.commands import CreateRun
from run_orchestrator.domain.planning import plan_run
from run_orchestrator.domain.prompt_version import PromptVersion
from run_orchestrator.handlers.ports import PENDING, RunRepository

VERSION_POLL_SECONDS = 0.05


class ProviderCatalog(Protocol):
    """Which providers are configured (the registry; its SDK clients stay out of here)."""

    def is_configured(self, name: str) -> bool: ...

    def names(self) -> list[str]: ...


@dataclass(frozen=True)
class RunAccepted:
    run_id: UUID
    status: str
    total_calls: int
    stream_version: int
    positions: Sequence[Position]


class RunCommands:
    def __init__(
        self,
        port: WritePort[RunRepository],
        providers: ProviderCatalog,
        *,
        prompt_wait_seconds: float,
        on_run_created: Callable[[], None] = lambda: None,
    ) -> None:
        self._port = port
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
        async with self._port.transaction(context) as tx:
            stream_version = await tx.append(str(run_id), [created], 0)
            await tx.repos.add_run(run_id, created.total_calls)
        self._on_run_created()
        return RunAccepted(run_id, PENDING, created.total_calls, stream_version, tx.positions)

    async def _await_version(self, version_id: UUID) -> PromptVersion:
        """The local copy may lag a prompt created a moment ago: wait for it, bounded."""
        deadline = time.monotonic() + self._prompt_wait
        while True:
            async with self._port.transaction() as tx:
                version = await tx.repos.find_version(version_id)
            if version is not None:
                return version
            if time.monotonic() >= deadline:
                raise DomainError(
                    f"prompt version {version_id} does not exist",
                    field="prompt_version_id",
                    rule="not_found",
                )
            await asyncio.sleep(VERSION_POLL_SECONDS)
