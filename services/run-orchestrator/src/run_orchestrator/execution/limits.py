"""Requests/min and tokens/min per (provider, model), shared by every orchestrator replica.

The mechanism (ADR 0009): each (provider, model) has ONE schedule in run-orchestrator's
PostgreSQL, its "theoretical arrival time" ``tat`` (GCRA, the generic cell rate algorithm,
in reservation form). A call costs ``max(60/rpm, tokens * 60/tpm)`` seconds of schedule
(times 1 + headroom), so both limits hold at once. One atomic statement per acquisition

    start = max(tat, now);  tat = start + cost        (UPDATE ... RETURNING, the DB's clock)

hands the caller the moment it may start; calls are therefore paced, never bursty: any window
of W seconds holds at most W/cost calls across all replicas, whatever their number, and no
replica's clock matters (only the database's).

Round trips are batched: the callers of one process that queue while a reservation is in
flight are served by the next one (one statement for all their costs, each caller starting
at its offset), and a process reserves at most ``lookahead`` seconds of schedule ahead.

Tokens/min reserves an estimate (prompt characters / 4 + max_tokens) and settles after the
call with the actual usage (``adjust``: the schedule moves by the difference).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from run_orchestrator.domain.catalog import ModelLimits

log = structlog.get_logger(__name__)

DEFAULT_LOOKAHEAD_SECONDS = 0.25
MIN_ADJUST_SECONDS = 1e-4


class RateLimitStore(Protocol):
    """The shared schedules (PostgreSQL; in memory for tests without a database)."""

    async def reserve(self, key: str, seconds: float) -> tuple[float, float]:
        """Atomically: ``start = max(tat, now)``, ``tat = start + seconds``. Returns
        ``(start, now)`` on the store's clock."""
        ...

    async def adjust(self, key: str, seconds: float) -> None:
        """Moves the schedule by ``seconds`` (negative: gives time back)."""
        ...


class RateLimiterUnavailableError(Exception):
    """The shared schedule could not be reached: the call must not go out unlimited."""


@dataclass(frozen=True)
class CallCost:
    seconds: float
    request_seconds: float
    token_seconds: float
    estimated_tokens: int

    def settled(self, actual_tokens: int) -> float:
        """The schedule's correction once the call's actual usage is known."""
        if self.token_seconds <= 0:
            return 0.0
        actual = max(self.request_seconds, actual_tokens * self.token_seconds)
        return actual - self.seconds


def estimate_tokens(prompt_chars: int, max_tokens: int | None, default_completion: int) -> int:
    """Prompt characters / 4 (rounded up) + the completion's maximum."""
    return math.ceil(prompt_chars / 4) + (max_tokens or default_completion)


def call_cost(limits: ModelLimits, estimated_tokens: int, headroom: float) -> CallCost | None:
    """What one call costs on the shared schedule, or None when the model has no rate limit."""
    if limits.requests_per_minute is None and limits.tokens_per_minute is None:
        return None
    scale = 1.0 + headroom
    request = 60.0 / limits.requests_per_minute * scale if limits.requests_per_minute else 0.0
    per_token = 60.0 / limits.tokens_per_minute * scale if limits.tokens_per_minute else 0.0
    return CallCost(
        seconds=max(request, estimated_tokens * per_token),
        request_seconds=request,
        token_seconds=per_token,
        estimated_tokens=estimated_tokens,
    )


@dataclass
class _Queue:
    waiting: deque[tuple[float, asyncio.Future[float]]] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None


class SharedRateLimiter:
    """One per process: queues this process's callers per key and reserves their slots."""

    def __init__(
        self, store: RateLimitStore, *, lookahead: float = DEFAULT_LOOKAHEAD_SECONDS
    ) -> None:
        self._store = store
        self._lookahead = lookahead
        self._queues: dict[str, _Queue] = {}

    async def acquire(self, key: str, seconds: float) -> None:
        """Returns when this call may start; raises RateLimiterUnavailableError."""
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(key, _Queue())
        slot: asyncio.Future[float] = loop.create_future()
        queue.waiting.append((seconds, slot))
        if queue.task is None or queue.task.done():
            queue.task = asyncio.create_task(self._reserve_for(key, queue), name=f"rate-{key}")
        start_at = await slot
        delay = start_at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def adjust(self, key: str, seconds: float) -> None:
        if abs(seconds) < MIN_ADJUST_SECONDS:
            return
        try:
            await self._store.adjust(key, seconds)
        except Exception as error:  # a lost correction only makes the next calls wait less/more
            log.warning("rate limit not settled", key=key, error=type(error).__name__)

    async def aclose(self) -> None:
        tasks = [q.task for q in self._queues.values() if q.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _reserve_for(self, key: str, queue: _Queue) -> None:
        loop = asyncio.get_running_loop()
        while queue.waiting:
            batch: list[tuple[float, asyncio.Future[float]]] = []
            total = 0.0
            while queue.waiting and (not batch or total < self._lookahead):
                cost, slot = queue.waiting.popleft()
                if slot.done():
                    continue  # its caller was cancelled while queued
                batch.append((cost, slot))
                total += cost
            if not batch:
                return
            try:
                start, now = await self._store.reserve(key, total)
            except Exception as error:
                failure = RateLimiterUnavailableError(
                    f"shared rate limit unavailable: {type(error).__name__}"
                )
                for _, slot in [*batch, *queue.waiting]:
                    if not slot.done():
                        slot.set_exception(failure)
                queue.waiting.clear()
                return
            received = loop.time()
            offset = start - now
            for cost, slot in batch:
                if not slot.done():
                    slot.set_result(received + offset)
                offset += cost
            # Reserve no further ahead than the lookahead: reserved but unused schedule (a
            # cancelled run, a crash) is capacity lost for every replica.
            ahead = received + offset - self._lookahead - loop.time()
            if ahead > 0:
                await asyncio.sleep(ahead)
