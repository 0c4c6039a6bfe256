"""The executor: finds unfinished runs and executes each in its own task.

- It wakes at once when a run is created (``notify``) and polls every
  ``poll_interval_seconds`` as a fallback, also at start-up, so a restarted process resumes
  the runs it left unfinished.
- A run is executed only under its advisory lock (see ``locks``): two replicas never execute
  the same run at the same time. A run locked elsewhere is skipped until the next poll.
- At most ``max_parallel_runs`` runs execute at once in one process.
- A run whose execution crashed stays unfinished and is retried after a back-off; stopping the
  executor cancels the runs in flight, which resume later from what was recorded.
"""

from __future__ import annotations

import asyncio
import functools
import time
from uuid import UUID

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.runtime import Runtime
from run_orchestrator.execution.locks import RunLock
from run_orchestrator.execution.runner import RunExecution
from run_orchestrator.execution.waiting import wait_event
from run_orchestrator.providers.registry import ProviderRegistry
from run_orchestrator.settings import RunOrchestratorSettings
from run_orchestrator.tables import UNFINISHED, runs

log = structlog.get_logger(__name__)

RETRY_BACKOFF_SECONDS = 5.0


class Executor:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: EventStore,
        providers: ProviderRegistry,
        settings: RunOrchestratorSettings,
    ) -> None:
        self._sessions = sessions
        self._execution = RunExecution(sessions, store, providers, settings)
        self._settings = settings
        self._dsn = asyncpg_dsn(settings.database_url.get_secret_value())
        self._wake = asyncio.Event()
        self._active: dict[UUID, asyncio.Task[None]] = {}
        self._not_before: dict[UUID, float] = {}

    def notify(self) -> None:
        """A run was created: schedule it now rather than at the next poll."""
        self._wake.set()

    async def start(self, runtime: Runtime) -> None:
        runtime.spawn("run-executor", self.run)

    @property
    def active_runs(self) -> int:
        return len(self._active)

    async def run(self) -> None:
        """Schedules until cancelled; cancelling also cancels the runs in flight."""
        try:
            while True:
                try:
                    await self._schedule()
                except Exception:
                    log.exception("scheduling runs failed; retrying at the next poll")
                await wait_event(self._wake, self._settings.poll_interval_seconds)
                self._wake.clear()
        finally:
            tasks = list(self._active.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _schedule(self) -> None:
        free = self._settings.max_parallel_runs - len(self._active)
        if free <= 0:
            return
        async with self._sessions() as session:
            candidates = (
                await session.scalars(
                    select(runs.c.run_id)
                    .where(runs.c.status.in_(UNFINISHED))
                    .order_by(runs.c.created_at)
                    .limit(1000)
                )
            ).all()
        now = time.monotonic()
        for run_id in candidates:
            if free <= 0:
                break
            if run_id in self._active or self._not_before.get(run_id, 0.0) > now:
                continue
            lock = await RunLock.try_acquire(self._dsn, run_id)
            if lock is None:
                continue  # another replica executes it
            task = asyncio.create_task(self._execute(run_id, lock), name=f"run-{run_id}")
            self._active[run_id] = task
            task.add_done_callback(functools.partial(self._finished, run_id))
            free -= 1

    def _finished(self, run_id: UUID, _: asyncio.Task[None]) -> None:
        self._active.pop(run_id, None)
        self._wake.set()  # a slot is free: start the next waiting run now

    async def _execute(self, run_id: UUID, lock: RunLock) -> None:
        try:
            await self._execution.execute(run_id)
            self._not_before.pop(run_id, None)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._not_before[run_id] = time.monotonic() + RETRY_BACKOFF_SECONDS
            log.exception("run execution stopped; it resumes later", run_id=str(run_id))
        finally:
            await lock.release()
