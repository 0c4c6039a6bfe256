"""A circuit breaker per provider: stop calling a provider that keeps failing.

- closed: calls go through; ``threshold`` consecutive failures (5xx, timeouts, connection
  errors, malformed bodies: the provider is unwell) open it. Rate limiting (429) and client
  errors do not count: the provider is healthy and answered.
- open: no call is sent for ``cooldown`` seconds; ``admit`` says how long to wait.
- half-open: after the cooldown one probe call goes through; its success closes the circuit,
  its failure opens it for another cooldown. Other calls wait meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]
PROBE_WAIT_SECONDS = 1.0


class CircuitBreaker:
    def __init__(
        self,
        threshold: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        self._cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._cooldown:
            return "half_open"
        return "open"

    def admit(self) -> float | None:
        """None when a call may go now; otherwise the seconds to wait before asking again."""
        if self._opened_at is None:
            return None
        remaining = self._opened_at + self._cooldown - self._clock()
        if remaining > 0:
            return remaining
        if self._probing:
            return PROBE_WAIT_SECONDS
        self._probing = True  # this caller is the probe
        return None

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def failed(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self._threshold:
            self._opened_at = self._clock()
            self._probing = False

    def released(self) -> None:
        """The call ended without telling anything about the provider's health (429,
        client error, cancelled): a probe's slot is given back."""
        self._probing = False
