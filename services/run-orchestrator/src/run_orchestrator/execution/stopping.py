"""Stopping a run before every call is made: on request (POST /runs/{id}/cancel), or when its
spend reaches its budget.

Invariants:
- The first reason to stop wins; later ones are ignored.
- A cancel request is a mark on the run's row (the handler cannot append to a running run's
  stream: the executor is its only writer). The executor reads the mark every
  ``CANCEL_POLL_SECONDS``, so no new call starts later than that after the request, whichever
  replica executes the run.
- Stopping cancels the calls in flight: they have no result and are not recorded; every
  result recorded before is kept. The run then ends with RunCancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from run_orchestrator.execution.state import ExecutorPort

CANCEL_POLL_SECONDS = 0.25

StopCause = Literal["requested", "budget"]


@dataclass(frozen=True)
class StopReason:
    cause: StopCause
    reason: str
    by: str | None = None


class StopSignal:
    def __init__(self) -> None:
        self._reason: StopReason | None = None
        self._stopped = asyncio.Event()

    @property
    def reason(self) -> StopReason | None:
        return self._reason

    def stop(self, reason: StopReason) -> None:
        if self._reason is None:
            self._reason = reason
            self._stopped.set()

    async def wait(self) -> None:
        await self._stopped.wait()


def requested_by(actor: str) -> StopReason:
    return StopReason("requested", f"cancelled by {actor or 'an anonymous caller'}", actor or None)


async def watch_cancel_requests(port: ExecutorPort, run_id: UUID, signal: StopSignal) -> None:
    """Stops ``signal`` when the run is marked for cancelling; runs until cancelled."""
    while signal.reason is None:
        await asyncio.sleep(CANCEL_POLL_SECONDS)
        async with port.transaction() as tx:
            row = await tx.repos.find_run(run_id)
        if row is not None and row.cancel_requested_by is not None:
            signal.stop(requested_by(row.cancel_requested_by))


async def cancel_when_stopped(signal: StopSignal, tasks: Iterable[asyncio.Task[None]]) -> None:
    await signal.wait()
    for task in tasks:
        task.cancel()
