"""Records a run's results in batches: one transaction per batch, never one per result.

Invariants:
- A flush appends up to ``flush_size`` ResultRecorded events with the stream's expected version
  (bulk insert into events + outbox), records their pairs and advances the run's counters
  (``RunRepository.record_results``: one bulk insert, one update), all in ONE write-port
  transaction. Either the whole batch is recorded or none of it.
- Flushes run one at a time in the recorder's own task, so versions stay contiguous while the
  calls go on; a batch is flushed when ``flush_size`` results are buffered or ``interval``
  after the previous flush, whichever comes first.
- A stale expected version or a duplicate (case, repetition) means another writer: the
  recorder fails for good and the run's execution stops; buffered results are dropped and
  the run resumes from what the database holds.
- The buffer is bounded (backpressure): callers wait when the database falls behind.
- A flush at least ``progress_interval`` after the last RunProgressed appends a new one after
  its results (same transaction), so progress events stay a few a second however fast the
  results come.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType

import structlog

from promptworks_contracts.events import ResultRecorded, RunProgressed
from promptworks_eventkit.errors import ConcurrencyConflictError
from run_orchestrator.domain.caching import CachedResponse
from run_orchestrator.execution.state import ExecutorPort, RunState
from run_orchestrator.execution.waiting import wait_event
from run_orchestrator.handlers.ports import ResultAlreadyRecordedError

log = structlog.get_logger(__name__)

FLUSH_ATTEMPTS = 3
DEFAULT_PROGRESS_INTERVAL = 0.5
YIELD_EVERY = 100


class RecorderFailedError(Exception):
    """Results can no longer be recorded; the run's execution must stop."""


class ResultRecorder:
    def __init__(
        self,
        port: ExecutorPort,
        state: RunState,
        *,
        flush_size: int,
        interval: float,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
    ) -> None:
        self._port = port
        self._state = state
        self._progress_interval = progress_interval
        self._last_progress = time.monotonic()
        self._flush_size = flush_size
        self._interval = interval
        self._max_buffer = 4 * flush_size
        self._buffer: list[ResultRecorded] = []
        self._added = 0
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._closing = False
        self._failure: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ResultRecorder:
        self._task = asyncio.create_task(self._run(), name=f"recorder-{self._state.run_id}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        if exc_type is None:
            self._closing = True
            self._wake.set()
            await self._task  # flushes the rest; raises if a flush failed for good
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    async def add(self, result: ResultRecorded) -> None:
        if self._failure is not None:
            raise RecorderFailedError(str(self._failure))
        self._buffer.append(result)
        self._added += 1
        if len(self._buffer) >= self._flush_size:
            self._wake.set()
        while len(self._buffer) >= self._max_buffer and self._failure is None:
            self._drained.clear()
            await self._drained.wait()
        if self._failure is not None:
            raise RecorderFailedError(str(self._failure))
        if self._added % YIELD_EVERY == 0:
            # Calls that never suspend (the mock without latency) must not starve the loop.
            await asyncio.sleep(0)

    async def _run(self) -> None:
        try:
            while True:
                timed_out = False
                if not self._closing and len(self._buffer) < self._flush_size:
                    timed_out = not await wait_event(self._wake, self._interval)
                self._wake.clear()
                while len(self._buffer) >= self._flush_size or (
                    self._buffer and (timed_out or self._closing)
                ):
                    batch = self._buffer[: self._flush_size]
                    await self._flush(batch)
                    del self._buffer[: len(batch)]
                    self._drained.set()
                if self._closing and not self._buffer:
                    return
        except BaseException as error:
            self._failure = error
            self._drained.set()
            raise

    async def _flush(self, batch: list[ResultRecorded]) -> None:
        state = self._state
        ok = sum(1 for r in batch if r.error is None)
        progress = self._progress(batch, ok)
        events: list[ResultRecorded | RunProgressed] = [*batch, *progress]
        for attempt in range(1, FLUSH_ATTEMPTS + 1):
            try:
                async with self._port.transaction(state.context) as tx:
                    await tx.append(state.stream_id, events, state.version)
                    await tx.repos.record_results(state.run_id, batch)
                    await tx.repos.store_responses(self._answers(batch))
                break
            except (ConcurrencyConflictError, ResultAlreadyRecordedError):
                raise  # another writer: retrying cannot help
            except Exception as error:
                if attempt == FLUSH_ATTEMPTS:
                    raise
                log.warning(
                    "result batch not recorded; retrying",
                    run_id=str(state.run_id),
                    attempt=attempt,
                    error=type(error).__name__,
                )
                await asyncio.sleep(0.2 * 2 ** (attempt - 1))
        state.version += len(events)
        state.succeeded += ok
        state.failed += len(batch) - ok
        if progress:
            self._last_progress = time.monotonic()

    def _answers(self, batch: list[ResultRecorded]) -> list[tuple[str, CachedResponse]]:
        """The batch's new answers for the response cache (runs that use it)."""
        keys = self._state.cache_keys
        return [
            (keys[(r.case_index, r.repetition)], CachedResponse(r.output, r.usage, r.finish_reason))
            for r in batch
            if r.output is not None
            and r.error is None
            and not r.cached
            and (r.case_index, r.repetition) in keys
        ]

    def _progress(self, batch: list[ResultRecorded], ok: int) -> list[RunProgressed]:
        """A RunProgressed to append after ``batch``, when one is due."""
        if time.monotonic() - self._last_progress < self._progress_interval:
            return []
        state = self._state
        succeeded, failed = state.succeeded + ok, state.failed + len(batch) - ok
        spent = state.spent
        return [
            RunProgressed(
                run_id=state.run_id,
                total_calls=state.created.total_calls,
                recorded=succeeded + failed,
                succeeded=succeeded,
                failed=failed,
                cost=spent,
            )
        ]
