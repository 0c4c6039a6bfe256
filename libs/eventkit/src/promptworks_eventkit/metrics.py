"""The Prometheus metrics every service exports on ``/metrics``, named in one place.

Conventions: the ``promptworks_`` prefix, base units in the name (``_seconds``), ``_total`` for
counters, bounded labels only. Which service a series comes from is the scrape target's ``job``
label (one job per service), not a label of ours. The dashboard and the alert rules in
``deploy/observability`` use these names, and a test checks they are exported (ADR 0007).

HTTP metrics are labelled by the route TEMPLATE (``/prompts/{prompt_id}``), never the raw path:
a raw path would make one series per prompt id. Unmatched paths share one ``route`` value.
"""

from __future__ import annotations

import re
import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED_ROUTE = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Any other method a client sends is counted as ``OTHER``: labels stay bounded."""

HTTP_REQUESTS = Counter(
    "promptworks_http_requests_total",
    "HTTP requests answered, by method, route template and status code",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "promptworks_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method, route template and "
    "status code",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

CONSUMER_APPLIED = Counter(
    "promptworks_consumer_events_applied_total",
    "Events a consumer applied (committed with its offsets), by event type",
    ["consumer", "type"],
)
CONSUMER_DUPLICATES = Counter(
    "promptworks_consumer_duplicates_skipped_total",
    "Redelivered events a consumer recognised and skipped",
    ["consumer"],
)
CONSUMER_DEAD_LETTERS = Counter(
    "promptworks_consumer_dead_letters_total",
    "Events a consumer could not apply and sent to the topic's dead-letter topic",
    ["consumer", "topic"],
)
CONSUMER_RESTARTS = Counter(
    "promptworks_consumer_restarts_total",
    "Kafka clients a consumer replaced, by why: `failed` (an error escaped its loop) or "
    "`stalled` (no progress for the watchdog's window, ADR 0034)",
    ["consumer", "reason"],
)
CONSUMER_GAPS = Counter(
    "promptworks_consumer_gaps_refused_total",
    "Fetches whose records did not start at the stored next offset (the client's position ran "
    "ahead of what was applied); each was dropped and the client sought to the stored offsets",
    ["consumer"],
)
CONSUMER_LAG = Gauge(
    "promptworks_consumer_lag_events",
    "Events on a partition not yet applied by the consumer: the partition's high watermark "
    "minus the consumer's committed position (query-api's: its projection lag)",
    ["consumer", "topic", "partition"],
    # Several worker processes (serve --workers): the process that owns a partition now wrote
    # its lag last; one that lost it in a rebalance keeps an older value.
    multiprocess_mode="mostrecent",
)

CONSUMER_BATCH_DURATION = Histogram(
    "promptworks_consumer_batch_duration_seconds",
    "One batch's transaction, from its start to its commit (effects, bookkeeping and the "
    "commit itself): the time a consumer is busy per batch",
    ["consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CONSUMER_BATCH_RECORDS = Histogram(
    "promptworks_consumer_batch_records",
    "Records in one batch's transaction",
    ["consumer"],
    buckets=(1, 5, 10, 50, 100, 500, 1000, 5000, 20000),
)
CONSUMER_APPLIED_AGE = Histogram(
    "promptworks_consumer_applied_age_seconds",
    "Per batch, from its oldest record's Kafka timestamp (when the producer sent it) to the "
    "batch's commit: the longest any of its events waited to take effect. On separate hosts "
    "it includes their clocks' difference",
    ["consumer"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
OUTBOX_PUBLISHED = Counter(
    "promptworks_outbox_published_total",
    "Outbox rows the relay published to Kafka (acknowledged by the brokers)",
)
OUTBOX_PRODUCER_RENEWALS = Counter(
    "promptworks_outbox_producer_renewals_total",
    "Kafka producers the relay replaced because the broker refused the old one's idempotence "
    "state (out-of-order sequence, unknown producer id, fenced epoch)",
)
OUTBOX_BACKLOG = Gauge(
    "promptworks_outbox_backlog_events",
    "Committed outbox rows not yet published, seen by the active relay (0 on a standby)",
    multiprocess_mode="max",
)
OUTBOX_OLDEST_AGE = Gauge(
    "promptworks_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest unpublished outbox row, seen by the active relay (0 when none)",
    multiprocess_mode="max",
)
OUTBOX_RELAY_LATENCY = Histogram(
    "promptworks_outbox_relay_latency_seconds",
    "From an event's transaction (outbox row created) to its publication being acknowledged "
    "and marked, measured on the database clock",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


def route_of(scope: Scope) -> str:
    """The template of the route that answered, e.g. ``/api/v1/prompts/{prompt_id}``."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        return UNMATCHED_ROUTE
    regex = getattr(route, "path_regex", None)
    path = str(scope.get("path", ""))
    if regex is None or regex.match(path):
        return template
    # FastAPI keeps the prefixes of ``include_router`` out of the route it selects: they are the
    # part of the path before what the route matched (static text, never an id).
    for index, char in enumerate(path):
        if char == "/" and regex.match(path[index:]):
            return path[:index] + template
    return template


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join(
        ((".+" if p.endswith(":path}") else "[^/]+") if p.startswith("{") else re.escape(p))
        for p in parts
    )
    return re.compile(f"^{regex}$")


class _Templates:
    """The route templates of an app's OpenAPI document, to name the route of a request that
    was answered before routing (the input guard's 413 and 422): FastAPI exposes no public way
    to match a path against its routes from outside the routing."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

    def match(self, path: str) -> str:
        if self._patterns is None:
            try:
                paths = self._app.openapi().get("paths", {})
            except Exception:  # the metrics must never break an answer
                paths = {}
            # Static routes before parametrised ones: /prompts/search before /prompts/{id}.
            ordered = sorted(paths, key=lambda t: (t.count("{"), -len(t)))
            self._patterns = [(_template_pattern(t), t) for t in ordered]
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        return UNMATCHED_ROUTE


class HttpMetrics:
    """ASGI middleware: counts and times every HTTP request by method, route template, status.

    Installed outermost (``install_edge``), so refusals of the input guard (413, 422) count too.
    An exception that escapes the app counts as a 500, as the server answers it.
    """

    def __init__(self, app: ASGIApp, router: Any = None) -> None:
        self._app = app
        self._templates = _Templates(router) if router is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, send_and_record)
        finally:
            route = route_of(scope)
            if route == UNMATCHED_ROUTE and self._templates is not None and status != 404:
                route = self._templates.match(str(scope.get("path", "")))
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            labels = (method, route, str(status))
            HTTP_REQUESTS.labels(*labels).inc()
            HTTP_DURATION.labels(*labels).observe(time.perf_counter() - started)
