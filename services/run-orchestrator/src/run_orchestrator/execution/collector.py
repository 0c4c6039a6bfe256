"""The cyclic garbage collector's young-generation threshold, for hundreds of calls in flight.

With 200 calls in flight, every call's objects (its task, aiohttp request and response,
timers, buffers) live for the call's ~200 ms, so Python's default threshold (a collection per
700 net new container objects) collected ~90 times per 1,000 calls, each time traversing the
young objects of every call in flight and promoting them, and every tenth time the older
generation too: ~35-60 ms of CPU per 1,000 calls in ``bench.provider_concurrency``'s stack
(``gc.callbacks``), ~10 % of a call. At 10,000 it is 2-3 collections per 1,000 calls (~5 ms).
Cyclic garbage waits for at most 10,000 new objects, a few MB at worst. The start-up objects
are frozen out of every collection by the runtime (``Runtime.start``, ``gc.freeze``)."""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def raise_young_threshold() -> None:
    """Keeps the older generations' thresholds; only ever raises the young one."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
