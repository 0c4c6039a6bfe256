"""Calls in flight per (provider, model), adapted to the provider's answers (AIMD).

The limit starts at the configured ceiling. A 429 halves it (multiplicative decrease), but only
a 429 of a call that started after the last decrease: the calls already in flight were sent
under the old limit, so one overload counts once (as TCP halves once per window). Each success
adds 1/limit (additive increase: about +1 per limit's worth of successes) back up to the
ceiling. The limit never drops below one call.

A 429 with ``Retry-After`` also holds every new call of the (provider, model) until then
(``hold``): the provider said when it will take calls again, so nobody else asks earlier.
"""

from __future__ import annotations

import asyncio
from collections import deque


class AdaptiveConcurrency:
    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self._limit = float(ceiling)
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._epoch = 0
        self._resume_at = 0.0

    @property
    def limit(self) -> int:
        return max(1, int(self._limit))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def hold(self, seconds: float) -> None:
        """No new call starts for ``seconds`` (a provider's Retry-After)."""
        loop = asyncio.get_running_loop()
        self._resume_at = max(self._resume_at, loop.time() + seconds)

    async def acquire(self) -> int:
        """Waits for a hold to pass and for a slot; returns the epoch to hand to
        ``rate_limited``."""
        loop = asyncio.get_running_loop()
        while (pause := self._resume_at - loop.time()) > 0:
            await asyncio.sleep(pause)
        while self._in_flight >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                self._wake()  # a wake-up meant for this waiter goes to the next one
                raise
        self._in_flight += 1
        return self._epoch

    def release(self) -> None:
        self._in_flight -= 1
        self._wake()

    def succeeded(self) -> None:
        if self._limit < self.ceiling:
            self._limit = min(float(self.ceiling), self._limit + 1.0 / self._limit)
            self._wake()

    def rate_limited(self, epoch: int) -> None:
        """A call that acquired its slot in ``epoch`` was answered 429."""
        if epoch == self._epoch:
            self._epoch += 1
            self._limit = max(1.0, self._limit / 2.0)

    def _wake(self) -> None:
        free = self.limit - self._in_flight
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1
