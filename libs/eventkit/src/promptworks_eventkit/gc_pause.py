"""Python's cyclic garbage collector paused while a consumer applies one batch (or a worker
evaluates one claim, or the relay publishes one batch), lifted once its objects are freed.

A batch of thousands of events allocates hundreds of thousands of objects that stay alive
until it commits (records, envelopes, events, rows). The collector, triggered every few
hundred allocations, traverses them again and again: decoding an event cost 4x its own work
(27 µs instead of 6.6 with 20,000 decoded events held; ``bench/README.md``). Reference counting
still frees everything acyclic at once; cycles made during the batch are collected by the
first collection after it (the thresholds count the allocations made while paused). The pause
spans one batch, so memory stays bounded by the batch size. Callers lift it only after they
dropped the batch's objects: a collection that runs while they are still referenced traverses
every one of them and promotes the survivors, whose later older-generation collections cost
the evaluator ~10 % of its CPU (``gc.callbacks``; ADR 0022, the eighth session's addendum).

Nested or concurrent batches (several consumers in one process, interleaved by the event
loop) share one pause: the collector runs again when the last one ends, and only if it was
enabled when the first began. A pause is joined only within ``JOIN_SECONDS`` of its start, so
that tasks whose batches always overlap cannot keep the collector off for good.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager

JOIN_SECONDS = 2.0
"""How long after a shared pause began another batch may still join it (and so extend it)."""

_depth = 0
_was_enabled = False
_since = 0.0


@contextmanager
def gc_paused() -> Iterator[None]:
    global _depth, _was_enabled, _since
    if _depth == 0:
        _was_enabled = gc.isenabled()
        _since = time.monotonic()
        gc.disable()
    elif time.monotonic() - _since >= JOIN_SECONDS:
        yield  # the shared pause is old: this batch runs within it but does not extend it
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _was_enabled:
            gc.enable()
