"""Installs OpenTelemetry tracing when the standard ``OTEL_*`` variables ask for it (see
``tracing`` for what is traced and how the context crosses Kafka). Called by each service's
bootstrap (``cli``); nothing here runs at import."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from promptworks_eventkit.tracing import enabled, set_enabled

log = structlog.get_logger(__name__)

EXCLUDED_URLS = "/healthz,/readyz,/metrics"
"""Probes and scrapes: frequent and uninteresting, never traced (unless
``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS`` says otherwise)."""


class _Provider:
    installed: TracerProvider | None = None


_provider = _Provider()


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the standard variables ask for traces: an OTLP endpoint, not disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


class _NoOrphanClients(Sampler):
    """Root spans only for work that starts somewhere: a request, a consumed batch, a run
    (sampled by ``roots``). A SQL query or outgoing call without a parent is background polling
    (the relay, the scheduler): one trace per poll would bury the traces that matter."""

    def __init__(self, roots: Sampler) -> None:
        self._roots = roots

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self._roots.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"NoOrphanClients{{{self._roots.get_description()}}}"


def sampler_for(environ: Mapping[str, str]) -> Sampler | None:
    """The parent-based samplers (the default, and a ratio of the traces that start here) drop
    orphan client spans; any other ``OTEL_TRACES_SAMPLER`` is the SDK's, as named (None)."""
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if name in ("", "parentbased_always_on"):
        return ParentBased(_NoOrphanClients(ALWAYS_ON))
    if name == "parentbased_traceidratio":
        try:
            ratio = float(environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
        except ValueError:
            ratio = 1.0
        return ParentBased(_NoOrphanClients(TraceIdRatioBased(min(1.0, max(0.0, ratio)))))
    return None


def configure_tracing(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Installs the tracer provider (OTLP over the standard variables) and instruments httpx,
    asyncpg and aiokafka, when ``wanted``; returns whether tracing is on. FastAPI apps are
    instrumented by ``instrument_app``."""
    env = os.environ if environ is None else environ
    if enabled() or not wanted(env):
        return enabled()
    # Imported here: a process without tracing never loads the exporter or instrumentations.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    provider = TracerProvider(resource=resource, sampler=sampler_for(env))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider.installed = provider
    set_enabled(True)
    HTTPXClientInstrumentor().instrument()
    AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
    AIOKafkaInstrumentor().instrument()
    log.info("tracing on", exporter="otlp", service=resource.attributes.get(SERVICE_NAME))
    return True


def instrument_app(app: FastAPI) -> None:
    """Server spans for ``app``'s requests (its routes' templates name them)."""
    if not enabled():
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    excluded = os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", EXCLUDED_URLS)
    FastAPIInstrumentor.instrument_app(app, excluded_urls=excluded)


def shutdown_tracing() -> None:
    """Exports what is buffered; called once the service stopped."""
    provider = _provider.installed
    if provider is not None:
        provider.shutdown()
        _provider.installed = None
        set_enabled(False)
