"""A real OTLP/HTTP trace receiver on loopback, for tests: services export to it over the
standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` exactly as they would to a collector. It decodes the
protobuf ``ExportTraceServiceRequest`` (opentelemetry-proto) and keeps every span.

As its own process (benchmarks with tracing on): ``python -m tests.support.otlp_receiver 4318``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

KIND_NAMES = {
    0: "UNSPECIFIED",
    1: "INTERNAL",
    2: "SERVER",
    3: "CLIENT",
    4: "PRODUCER",
    5: "CONSUMER",
}


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    attributes: dict[str, Any]
    links: tuple[tuple[str, str], ...]
    """(trace id, span id) of each link."""


def _value(value: AnyValue) -> Any:
    field = value.WhichOneof("value")
    return getattr(value, field) if field else None


def decode(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        service=str(resource.get("service.name")),
                        name=span.name,
                        kind=KIND_NAMES.get(span.kind, str(span.kind)),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        links=tuple((k.trace_id.hex(), k.span_id.hex()) for k in span.links),
                    )
                )
    return spans


class OtlpReceiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def spans(self, trace_id: str | None = None) -> list[ReceivedSpan]:
        with self._lock:
            return [s for s in self._spans if trace_id is None or s.trace_id == trace_id]

    def _receive(self, body: bytes) -> None:
        spans = decode(body)
        with self._lock:
            self._spans.extend(spans)
            self.requests += 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                receiver._receive(body)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the test reads the spans, not an access log

        return Handler

    @contextlib.contextmanager
    def serving(self, port: int = 0) -> Iterator[OtlpReceiver]:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)


class Trace:
    """The spans of one trace, by id."""

    def __init__(self, spans: list[ReceivedSpan]) -> None:
        self.spans = spans
        self.by_id = {s.span_id: s for s in spans}

    def named(self, service: str, name: str) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.service == service and s.name == name]

    def parent(self, span: ReceivedSpan) -> ReceivedSpan:
        assert span.parent_span_id in self.by_id, f"{span.name} in {span.service}: no parent"
        return self.by_id[span.parent_span_id]

    def root(self, span: ReceivedSpan) -> ReceivedSpan:
        """The farthest ancestor of ``span`` that the trace holds."""
        while span.parent_span_id in self.by_id:
            span = self.parent(span)
        return span

    def ancestry(self, span: ReceivedSpan) -> list[tuple[str, str, str]]:
        """(service, kind, name) of ``span`` and of each of its ancestors, nearest first."""
        chain = [(span.service, span.kind, span.name)]
        while span.parent_span_id in self.by_id:
            span = self.parent(span)
            chain.append((span.service, span.kind, span.name))
        return chain


async def wait_for_trace(
    receiver: OtlpReceiver, trace_id: str, wanted: set[str], timeout: float = 30.0
) -> Trace:
    """The trace once each ``"service/span name"`` in ``wanted`` was exported and every span's
    parent too (the services export on their own schedules), but for the caller's span that
    the trace's roots share."""
    async with asyncio.timeout(timeout):
        while True:
            trace = Trace(receiver.spans(trace_id))
            names = {f"{s.service}/{s.name}" for s in trace.spans}
            missing = {s.parent_span_id for s in trace.spans} - trace.by_id.keys()
            if wanted <= names and len(missing) == 1:
                return trace
            await asyncio.sleep(0.2)


def main() -> None:
    import sys
    import time

    with OtlpReceiver().serving(int(sys.argv[1]) if len(sys.argv) > 1 else 4318) as receiver:
        print(f"receiving OTLP/HTTP traces on {receiver.endpoint}", flush=True)
        while True:
            time.sleep(10)
            print(f"{len(receiver.spans())} spans in {receiver.requests} requests", flush=True)


if __name__ == "__main__":
    main()
