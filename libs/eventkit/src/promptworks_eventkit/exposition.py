"""``/metrics``: this process's metrics, or every worker's when the service runs several.

``serve --workers N`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the
workers start; prometheus-client then keeps each worker's values in files there, and any
worker's ``/metrics`` answers the sum (counters, histograms) or the gauge's declared
``multiprocess_mode`` over all of them. A scrape through the port sees the whole process group,
not whichever worker took the connection.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

__all__ = ["CONTENT_TYPE_LATEST", "MULTIPROCESS_DIR_VARIABLE", "exposition", "shared_by_workers"]


def shared_by_workers() -> bool:
    """Metrics live in files shared by several worker processes (``serve --workers N``)."""
    return bool(os.environ.get(MULTIPROCESS_DIR_VARIABLE))


def exposition() -> bytes:
    """The text format of every metric, merged across worker processes when there are several."""
    if not shared_by_workers():
        return generate_latest()
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
