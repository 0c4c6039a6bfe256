"""What a rebuild tells its operator while it runs: events applied, events/s, what is left."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

Echo = Callable[[str], None]


@dataclass
class Progress:
    echo: Echo
    every: float = 2.0
    """Seconds between two progress lines."""
    events: int = 0
    """Records applied (every record read moves the offsets, handled or not)."""
    started: float = field(default_factory=time.monotonic)
    cpu_started: float = field(default_factory=time.process_time)
    _last: float = field(default_factory=time.monotonic)

    def phase(self, message: str) -> None:
        self.echo(f"[{self.elapsed():7.1f} s] {message}")

    def applied(self, records: int, behind: int, phase: str) -> None:
        self.events += records
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.phase(
                f"{phase}: {self.events:,} events applied ({self.rate():,.0f} events/s), "
                f"{behind:,} to go"
            )

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def rate(self) -> float:
        elapsed = self.elapsed()
        return self.events / elapsed if elapsed > 0 else 0.0

    def cpu_seconds(self) -> float:
        return time.process_time() - self.cpu_started
