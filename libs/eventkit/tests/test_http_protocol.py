"""``serve``'s HTTP protocol (``http_protocol``) sends the bytes uvicorn's httptools protocol
sends, over real sockets: a complete answer's head and body in one write, a streamed answer's
head at once, a ``HEAD`` answer's head alone, an app failing after its head the head and then
the connection closed."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from promptworks_eventkit import http_protocol

released = asyncio.Event()


async def page(request: Request) -> Response:
    return JSONResponse([{"n": n, "text": "x" * 50} for n in range(200)], headers={"X-A": "1"})


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        await released.wait()  # the head must be out before the first chunk
        yield b"first\n"
        yield b"second\n"

    return StreamingResponse(chunks(), media_type="application/x-ndjson")


async def failing(request: Request) -> Response:
    class Broken(Response):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            raise RuntimeError("after the head")

    return Broken(b"never sent", media_type="text/plain")


APP = Starlette(
    routes=[
        Route("/page", page, methods=["GET", "HEAD"]),
        Route("/stream", stream),
        Route("/failing", failing),
    ]
)


@contextlib.asynccontextmanager
async def served(protocol: Any) -> AsyncIterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(
        APP, host="127.0.0.1", port=port, http=protocol, log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def exchange(port: int, request: bytes, until_closed: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    received = b""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), 2.0)
            received += chunk
            if not chunk or (not until_closed and _complete(received)):
                return received
    finally:
        writer.close()


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    found = re.search(rb"content-length: (\d+)", head)
    return bool(found) and len(body) >= int(found.group(1)) if found else False


def without_date(data: bytes) -> bytes:
    return re.sub(rb"date: [^\r]*\r\n", b"", data)


def get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nhost: test\r\n\r\n".encode()


@pytest.mark.parametrize(
    ("request_bytes", "until_closed"),
    [(get("/page"), False), (get("/page", "HEAD"), False), (get("/failing"), True)],
)
async def test_the_bytes_are_httptools_bytes(request_bytes: bytes, until_closed: bool) -> None:
    answers = []
    for protocol in (HttpToolsProtocol, http_protocol.PROTOCOL):
        async with served(protocol) as port:
            if request_bytes.startswith(b"HEAD"):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request_bytes)
                answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
                writer.close()
            else:
                answer = await exchange(port, request_bytes, until_closed)
        answers.append(without_date(answer))
    assert answers[0] == answers[1]
    assert answers[0].startswith(b"HTTP/1.1 200 OK\r\n")


async def test_a_complete_answer_is_one_write() -> None:
    writes: list[str] = []
    original = http_protocol.OneWriteHttpToolsProtocol.connection_made

    def counting(self: Any, transport: Any) -> None:
        write, writelines = transport.write, transport.writelines

        class Counted:
            def write(self, data: bytes) -> None:
                writes.append("write")
                write(data)

            def writelines(self, data: Any) -> None:
                writes.append("writelines")
                writelines(data)

            def __getattr__(self, name: str) -> Any:
                return getattr(transport, name)

        original(self, Counted())  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(http_protocol.OneWriteHttpToolsProtocol, "connection_made", counting)
        async with served(http_protocol.PROTOCOL) as port:
            answer = await exchange(port, get("/page") + get("/page"))
            answer += await exchange(port, get("/page"))
    assert answer.count(b"HTTP/1.1 200 OK") >= 2
    assert writes and set(writes) == {"writelines"}  # each answer: one writev, head and body


async def test_a_streamed_answers_head_goes_out_before_its_body() -> None:
    released.clear()
    async with served(http_protocol.PROTOCOL) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/stream"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"transfer-encoding: chunked" in head
        released.set()
        rest = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 2.0)
        writer.close()
    assert b"first\n" in rest and b"second\n" in rest
