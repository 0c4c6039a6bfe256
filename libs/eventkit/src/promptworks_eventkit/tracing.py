"""OpenTelemetry tracing: off unless the standard ``OTEL_*`` variables ask for it.

One trace follows a request through every service: the HTTP server span (FastAPI), the calls
between services (httpx), the SQL (asyncpg), the outbox relay's send (aiokafka, which puts
``traceparent`` in the Kafka headers) and each consumer's processing of each event.

How the context crosses the outbox, which publishes later, from another task:
- an append stores the current span's ``traceparent`` in the event's envelope (the relay sends
  it as the ``ce_traceparent`` header, built from the stored envelope);
- the relay sends each row under that stored context, so aiokafka's send span is its child and
  the Kafka ``traceparent`` header names the send;
- a consumer opens one ``process`` span per event, a child of that header (else of the
  envelope's ``ce_traceparent``), and hands the handler the event with the process span as its
  ``traceparent``: events it causes (``MessageContext.caused_by``) continue the trace.

Off (the default: no ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``, or ``OTEL_SDK_DISABLED=true``,
or ``OTEL_TRACES_EXPORTER=none``) nothing is instrumented and every helper here is a flag test.
``tracing_setup.configure_tracing`` is called by the service's bootstrap (``cli.serve``),
never at import. This module holds what the code paths use; it imports no framework.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import replace
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from promptworks_eventkit.messages import MessageContext, ReceivedEvent

log = structlog.get_logger(__name__)

TRACER_NAME = "promptworks"

_W3C = TraceContextTextMapPropagator()


class _State:
    on = False


_state = _State()


def enabled() -> bool:
    return _state.on


def set_enabled(on: bool) -> None:
    """Called by ``tracing_setup`` once the tracer provider is installed (or shut down)."""
    _state.on = on


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, None without tracing or a span."""
    if not enabled():
        return None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get("traceparent")


def context_of(traceparent: str | None) -> Context | None:
    return _W3C.extract({"traceparent": traceparent}) if traceparent else None


@contextlib.contextmanager
def within(traceparent: str | None) -> Iterator[None]:
    """Makes ``traceparent`` the current context (the relay sends each row within the context
    its event was recorded in); nothing without tracing or a context."""
    parent = context_of(traceparent) if enabled() else None
    if parent is None:
        yield
        return
    token = otel_context.attach(parent)
    try:
        yield
    finally:
        otel_context.detach(token)


@contextlib.contextmanager
def span(name: str, parent: MessageContext, **attributes: str) -> Iterator[MessageContext]:
    """An internal span that is a child of ``parent``'s trace (e.g. a run's execution) and
    the current span meanwhile; yields ``parent`` carrying the span's ``traceparent``, for the
    events recorded inside it. Without tracing: yields ``parent``."""
    if not enabled():
        yield parent
        return
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(
        name, context=context_of(parent.traceparent), attributes=attributes
    ):
        yield replace(parent, traceparent=current_traceparent())


def _header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


@contextlib.contextmanager
def processing(
    consumer: str,
    events: Sequence[ReceivedEvent],
    headers: Sequence[Sequence[tuple[str, bytes]]],
) -> Iterator[Sequence[ReceivedEvent]]:
    """One ``process`` span per event (a child of the Kafka ``traceparent`` that the relay's
    send wrote, else of the envelope's), open while the batch's transaction runs; the batch's
    own work (SQL) runs in a batch span linked to them. Yields the events, each with its
    process span as ``traceparent`` so what it causes stays in its trace. Without tracing:
    yields ``events`` as they are."""
    if not enabled() or not events:
        yield events
        return
    tracer = trace.get_tracer(TRACER_NAME)
    spans: list[trace.Span] = []
    traced: list[ReceivedEvent] = []
    for event, event_headers in zip(events, headers, strict=True):
        parent = context_of(_header(event_headers, "traceparent") or event.envelope.traceparent)
        process = tracer.start_span(
            f"{event.topic} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": event.topic,
                "messaging.consumer.group.name": consumer,
                "messaging.kafka.message.offset": event.offset,
                "messaging.destination.partition.id": str(event.partition),
                "messaging.message.id": str(event.envelope.id),
                "cloudevents.event_type": event.envelope.type,
                "cloudevents.event_subject": event.envelope.subject,
            },
        )
        spans.append(process)
        carrier: dict[str, str] = {}
        _W3C.inject(carrier, context=trace.set_span_in_context(process))
        envelope = event.envelope.model_copy(update={"traceparent": carrier["traceparent"]})
        traced.append(replace(event, envelope=envelope))
    try:
        with _batch_span(tracer, consumer, spans):
            yield traced
    except BaseException as error:
        for process in spans:
            process.set_status(Status(StatusCode.ERROR, type(error).__name__))
        raise
    finally:
        for process in spans:
            process.end()


@contextlib.contextmanager
def _batch_span(tracer: trace.Tracer, consumer: str, spans: list[trace.Span]) -> Iterator[None]:
    """One event: its process span is current (its SQL shows under it). Several: a batch span
    linked to each, since one transaction applies them all."""
    if len(spans) == 1:
        with trace.use_span(spans[0], end_on_exit=False):
            yield
        return
    with tracer.start_as_current_span(
        f"{consumer} batch",
        links=[Link(s.get_span_context()) for s in spans],
        attributes={"messaging.batch.message_count": len(spans)},
    ):
        yield


def add_trace_ids(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the current trace and span ids on every log line (with tracing)."""
    if enabled():
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event_dict["trace_id"] = format(context.trace_id, "032x")
            event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict
