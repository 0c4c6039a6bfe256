"""Python's cyclic garbage collector paused while a consumer applies one batch.

A batch of thousands of events allocates hundreds of thousands of objects that stay alive
until it commits (records, envelopes, events, rows). The collector, triggered every few
hundred allocations, traverses them again and again: decoding an event cost 4x its own work
(27 µs instead of 6.6 with 20,000 decoded events held; ``bench/README.md``). Reference counting
still frees everything acyclic at once; cycles made during the batch are collected by the
first collection after it (the thresholds count the allocations made while paused). The pause
spans one batch, so memory stays bounded by the batch size.

Nested or concurrent batches (several consumers in one process, interleaved by the event
loop) share one pause: the collector runs again when the last one ends, and only if it was
enabled when the first began.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    global _depth, _was_enabled
    if _depth == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _was_enabled:
            gc.enable()
