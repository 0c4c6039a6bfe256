"""The executor: finds unfinished runs and executes each in its own task.

- It wakes at once when a run is created (``notify``) and polls every
  ``poll_interval_seconds`` as a fallback, also at start-up, so a restarted process resumes
  the runs it left unfinished.
- A run is executed only under its lock (``RunLocks``: PostgreSQL advisory locks, see
  ``adapters/locks.py``): two replicas never execute the same run at the same time. A run
  locked elsewhere is skipped until the next poll.
- At most ``max_parallel_runs`` runs execute at once in one process.
- A run whose execution crashed stays unfinished and is retried after a back-off; stopping the
  executor cancels the runs in flight, which resume later from what was recorded.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Protocol
from uuid import UUID

import structlog

from run_orchestrator.execution.calls import ProviderCalls
from run_orchestrator.execution.metrics import RUNS_IN_FLIGHT
from run_orchestrator.execution.runner import Providers, RunExecution
from run_orchestrator.execution.state import ExecutorPort
from run_orchestrator.execution.waiting import wait_event
from run_orchestrator.settings import RunOrchestratorSettings

log = structlog.get_logger(__name__)

RETRY_BACKOFF_SECONDS = 5.0
CANDIDATES_PER_POLL = 1000


class RunLock(Protocol):
    async def release(self) -> None:
        """Frees the run for other processes; must not fail (a cancelled run still frees it)."""
        ...


class RunLocks(Protocol):
    """Per-run locks shared by every replica (PostgreSQL advisory locks, see adapters)."""

    async def try_acquire(self, run_id: UUID) -> RunLock | None:
        """The run's lock, or None when another process holds it."""
        ...


class Spawner(Protocol):
    """Runs a background task for the life of the process (the service runtime)."""

    def spawn(self, name: str, work: Callable[[], Awaitable[None]]) -> None: ...


class Executor:
    def __init__(
        self,
        port: ExecutorPort,
        providers: Providers,
        locks: RunLocks,
        settings: RunOrchestratorSettings,
        calls: ProviderCalls | None = None,
    ) -> None:
        self._port = port
        self._execution = RunExecution(port, providers, settings, calls)
        self._locks = locks
        self._settings = settings
        self._wake = asyncio.Event()
        self._active: dict[UUID, asyncio.Task[None]] = {}
        self._not_before: dict[UUID, float] = {}

    def notify(self) -> None:
        """A run was created: schedule it now rather than at the next poll."""
        self._wake.set()

    async def start(self, runtime: Spawner) -> None:
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
        async with self._port.transaction() as tx:
            candidates = await tx.repos.unfinished_runs(CANDIDATES_PER_POLL)
        now = time.monotonic()
        for run_id in candidates:
            if free <= 0:
                break
            if run_id in self._active or self._not_before.get(run_id, 0.0) > now:
                continue
            lock = await self._locks.try_acquire(run_id)
            if lock is None:
                continue  # another replica executes it
            task = asyncio.create_task(self._execute(run_id, lock), name=f"run-{run_id}")
            self._active[run_id] = task
            RUNS_IN_FLIGHT.inc()
            task.add_done_callback(functools.partial(self._finished, run_id))
            free -= 1

    def _finished(self, run_id: UUID, _: asyncio.Task[None]) -> None:
        if self._active.pop(run_id, None) is not None:
            RUNS_IN_FLIGHT.dec()
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
