"""Tracing is off unless the standard variables ask for it; with it on, each consumed event is
processed in a child span of the context that carried it and hands that span on to what it
causes; log lines carry the trace, span and correlation ids. In process, with the SDK's
in-memory exporter (the whole path over OTLP and Kafka: tests/e2e/test_pipeline.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
import structlog
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from promptworks_contracts.events import PromptCreated
from promptworks_eventkit import tracing
from promptworks_eventkit.http import install_edge
from promptworks_eventkit.logging import configure_logging
from promptworks_eventkit.messages import MessageContext, ReceivedEvent
from promptworks_eventkit.settings import ServiceSettings
from promptworks_eventkit.tracing_setup import configure_tracing, sampler_for, wanted
from tests.support.kafka import envelope_for

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        (ENDPOINT, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, False),
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_tracing_is_wanted_only_with_an_endpoint_and_not_disabled(
    environ: dict[str, str], on: bool
) -> None:
    assert wanted(environ) is on


def test_sql_and_calls_outside_any_trace_are_not_sampled() -> None:
    """The relay's and the scheduler's polling would otherwise start a trace per poll."""
    sampler = sampler_for({})
    assert sampler is not None
    tracer = TracerProvider(sampler=sampler).get_tracer("tests")
    assert not tracer.start_span("SELECT", kind=SpanKind.CLIENT).is_recording()
    with tracer.start_as_current_span("GET /x", kind=SpanKind.SERVER) as request:
        assert request.is_recording()
        assert tracer.start_span("SELECT", kind=SpanKind.CLIENT).is_recording()
    # A ratio applies to the traces that start here; orphans stay dropped.
    none_kept = sampler_for(
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}
    )
    assert none_kept is not None
    assert not TracerProvider(sampler=none_kept).get_tracer("t").start_span("GET").is_recording()
    # Any other sampler is the SDK's, as the variable names it.
    assert sampler_for({"OTEL_TRACES_SAMPLER": "always_on"}) is None


def test_without_the_variables_nothing_is_installed() -> None:
    assert configure_tracing("tests", environ={}) is False
    assert not tracing.enabled()
    assert tracing.current_traceparent() is None
    context = MessageContext(traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
    with tracing.span("work", context) as inside:
        assert inside is context  # no span, the context goes on unchanged


@pytest.fixture(scope="module")
def provider() -> TracerProvider:
    """The SDK's provider, process-wide as a service installs it (no other test turns tracing
    on, so their code paths stay untraced)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    installed = TracerProvider()
    trace.set_tracer_provider(installed)
    return installed


@pytest.fixture
def spans(provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    tracing.set_enabled(True)
    try:
        yield exporter
    finally:
        tracing.set_enabled(False)
        processor.shutdown()  # exports nothing more
        exporter.clear()


def received(offset: int, traceparent: str | None = None) -> ReceivedEvent:
    event = PromptCreated(prompt_id=uuid.uuid4(), name=f"p{offset}")
    envelope = envelope_for(event, 1).model_copy(update={"traceparent": traceparent})
    return ReceivedEvent("promptworks.prompt", 0, offset, envelope, event)


def traceparent(trace_id: str, span_id: str) -> str:
    return f"00-{trace_id}-{span_id}-01"


def test_each_event_is_processed_in_a_child_of_its_kafka_traceparent(
    spans: InMemorySpanExporter,
) -> None:
    sender, recorder = uuid.uuid4().hex, uuid.uuid4().hex
    events = [
        # The relay's send span, in the Kafka header, wins over the envelope's context.
        received(7, traceparent(recorder, "1" * 16)),
        # Without the header (sent by a relay that did not trace): the envelope's context.
        received(8, traceparent(recorder, "2" * 16)),
    ]
    headers = [[("traceparent", traceparent(sender, "3" * 16).encode())], []]
    with tracing.processing("tests.consumer", events, headers) as traced:
        handed_on = [e.envelope.traceparent for e in traced]
        assert [e.event for e in traced] == [e.event for e in events]
    finished = {s.name: s for s in spans.get_finished_spans()}
    process = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert [(format(s.context.trace_id, "032x"), s.parent.span_id) for s in process] == [
        (sender, int("3" * 16, 16)),
        (recorder, int("2" * 16, 16)),
    ]
    attributes = dict(process[0].attributes or {})
    assert attributes["messaging.kafka.message.offset"] == 7
    assert attributes["cloudevents.event_type"] == events[0].envelope.type
    # What an event causes continues its process span.
    assert handed_on == [
        traceparent(format(s.context.trace_id, "032x"), format(s.context.span_id, "016x"))
        for s in process
    ]
    # Two events, one transaction: a batch span linked to both.
    batch = finished["tests.consumer batch"]
    assert {link.context.span_id for link in batch.links} == {s.context.span_id for s in process}


def test_a_failed_batch_marks_its_process_spans_as_errors(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError), tracing.processing("tests.consumer", [received(1)], [[]]):
        raise ValueError("projection failed")
    [process] = spans.get_finished_spans()
    assert not process.status.is_ok


def test_a_span_continues_the_context_it_is_given(spans: InMemorySpanExporter) -> None:
    trace_id = uuid.uuid4().hex
    parent = MessageContext(correlation_id="c1", traceparent=traceparent(trace_id, "4" * 16))
    with tracing.span("run execute", parent, run_id="r1") as inside:
        assert inside.correlation_id == "c1"
        assert inside.traceparent == tracing.current_traceparent()
    [span] = spans.get_finished_spans()
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None and span.parent.span_id == int("4" * 16, 16)
    assert (
        inside.traceparent is not None
        and format(span.context.span_id, "016x") in inside.traceparent
    )


async def test_log_lines_carry_the_trace_span_and_correlation_ids(
    spans: InMemorySpanExporter, provider: TracerProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("tests")
    app = FastAPI()
    install_edge(app, ServiceSettings())
    log = structlog.get_logger("tests")

    @app.get("/work")
    async def work() -> dict[str, str]:
        with provider.get_tracer("tests").start_as_current_span("work"):
            log.info("working")
        log.info("done")
        return {}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        named = await client.get("/work", headers={"X-Correlation-ID": "corr-7"})
        minted = await client.get("/work")
    assert named.status_code == minted.status_code == 200
    out = capsys.readouterr().out.splitlines()
    lines = [json.loads(line) for line in out if line.startswith("{")]
    working, done, working_2, done_2 = [x for x in lines if x["event"] in ("working", "done")]
    inner = next(s for s in spans.get_finished_spans() if s.name == "work")
    assert working["trace_id"] == format(inner.context.trace_id, "032x")
    assert working["span_id"] == format(inner.context.span_id, "016x")
    # Outside the inner span: the request's own span (FastAPI's), in the same trace.
    assert done["trace_id"] == working["trace_id"] and done["span_id"] != working["span_id"]
    assert working["correlation_id"] == done["correlation_id"] == "corr-7"
    # Without the header, the request still has one id of its own, on each of its lines.
    assert working_2["correlation_id"] == done_2["correlation_id"] != "corr-7"
    assert working_2["trace_id"] != working["trace_id"]
