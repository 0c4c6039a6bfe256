"""uvicorn's httptools protocol, with a whole answer's head and body written in one write.

uvicorn writes a response's status line and headers when the app sends
``http.response.start``, and its body when the app sends ``http.response.body``: two writes,
two TCP segments on the wire and two wake-ups of the client for an answer that is complete at
once (every ``Response`` of Starlette sends both back to back). Here the head of an answer
that declares its ``Content-Length`` is held and written with the first piece of its body (one
``writev``), or alone once the answer is complete without one (``HEAD``), or before the
connection is closed (an app that fails after starting its answer). Answers without a length
(streamed: NDJSON exports, server-sent events) have their head written at once, as before: a
client of a live stream sees the headers before the first event. The bytes on the wire are
the same; only how they are split into segments changes (ADR 0025's eighth-session addendum).

``serve`` (``promptworks_eventkit.cli``) runs every service with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, cast

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

PROTOCOL = "promptworks_eventkit.http_protocol:OneWriteHttpToolsProtocol"
"""``uvicorn.run(http=...)``: importable by name in each worker process."""


class _HeldHead:
    """The connection's transport while an answer is written: its first write (the head) is
    held and written with the second (the body's first piece)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._head: bytes | None = None
        self._passing = False

    def write(self, data: bytes) -> None:
        if self._passing:
            self.transport.write(data)
        elif self._head is None:
            self._head = data
        else:
            self._passing = True
            self.transport.writelines((self._head, data))  # one writev
            self._head = None

    def release(self) -> asyncio.Transport:
        """Writes a head still held (unless the connection is gone); the transport."""
        if self._head is not None and not self.transport.is_closing():
            self.transport.write(self._head)
        self._head = None
        return self.transport

    def close(self) -> None:
        self.release().close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


def _declares_length(message: ASGISendEvent) -> bool:
    headers = cast(Iterable[tuple[bytes, bytes]], message.get("headers", ()))
    return any(name.lower() == b"content-length" for name, _ in headers)


class _OneWriteCycle(RequestResponseCycle):
    async def send(self, message: ASGISendEvent) -> None:
        if (
            message["type"] == "http.response.start"
            and not self.response_started
            and _declares_length(message)
        ):
            self.transport = _HeldHead(self.transport)  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            held = self.transport
            if isinstance(held, _HeldHead) and (
                self.response_complete or self.disconnected or not self.response_started
            ):
                self.transport = held.release()


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        # The request's cycle is made there; its task has not run yet (it starts on the loop's
        # next turn), so its ``send`` is this class's from the first message on.
        if type(self.cycle) is RequestResponseCycle:
            self.cycle.__class__ = _OneWriteCycle
