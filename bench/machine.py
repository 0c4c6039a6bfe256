"""A gauge of the cores' speed, reported beside ``nproc`` and the load average.

On this shared host the same code used ~40 % less CPU for the same work from one half hour to
the next, with no steal time reported and the load average alike (bench/README, "The ninth
quiet hour"). The load average cannot show that; a fixed pure-Python loop timed when the
benchmark reports can, so figures from different windows can be told apart."""

from __future__ import annotations

import math
import time

GAUGE_LOOP = 10_000_000


def python_gauge_seconds(rounds: int = 3) -> float:
    """The best of ``rounds`` timings of ``for i in range(GAUGE_LOOP): total += i`` (one core,
    wall seconds; lower is a faster machine)."""
    best = math.inf
    for _ in range(rounds):
        started = time.perf_counter()
        total = 0
        for i in range(GAUGE_LOOP):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best, 3)
