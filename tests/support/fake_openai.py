"""A real HTTP server on loopback that speaks the OpenAI chat-completions API (whole answers
and SSE streams) and the embeddings API, for tests and benchmarks. How it answers is told per
test (``ReplyScript``: slow, 429 + Retry-After, 5xx, hanging, malformed); it records what it
received.

As its own process (benchmarks): ``python -m tests.support.fake_openai --port 8123 --latency 0.2``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import hashlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from tests.support.fake_replies import Reply, ReplyScript

MOVED = "/v1/moved"
"""Where ``Reply.redirect()`` sends a request: the same endpoints under another path."""


@dataclass
class FakeOpenAI(ReplyScript):
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    content: Callable[[dict[str, Any]], str] | None = None
    """Told per test: the answer's text from the request body (default: ``fake reply to:``
    and the prompt), e.g. a judge's JSON that depends on the answer being judged."""
    embedding_requests: list[dict[str, Any]] = field(default_factory=list)
    embedding: Callable[[str], list[float]] | None = None
    """Told per test: a text's vector (default: ``word_vector``, its words hashed)."""
    gzip: bool = False
    """Told per test: whole answers gzip-encoded (``Content-Encoding: gzip``), as api.openai.com
    answers a client that accepts it."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        @app.post(f"{MOVED}/chat/completions")
        async def complete(request: Request) -> Response:
            self.arrived()
            # Recorded before any await: authorizations[i] belongs to request_times[i].
            self.authorizations.append(request.headers.get("authorization", ""))
            try:
                self.saw(request.url.path, request.headers.raw, await request.body())
                body = await request.json()
                self.requests.append(body)
                reply = self.next_reply()
                await self.wait(reply)
                return self._answer(reply, body)
            finally:
                self.left()

        @app.post("/v1/embeddings")
        async def embed(request: Request) -> Response:
            self.arrived()
            self.authorizations.append(request.headers.get("authorization", ""))
            try:
                body = await request.json()
                self.embedding_requests.append(body)
                reply = self.next_reply()
                await self.wait(reply)
                if reply.kind != "ok":
                    return self._answer(reply, body)
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                vector = self.embedding or word_vector
                tokens = sum(len(str(text).split()) for text in inputs)
                return JSONResponse(
                    {
                        "object": "list",
                        "data": [
                            {"object": "embedding", "index": i, "embedding": vector(str(text))}
                            for i, text in enumerate(inputs)
                        ],
                        "model": body["model"],
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    }
                )
            finally:
                self.left()

        return app

    def _answer(self, reply: Reply, body: dict[str, Any]) -> Response:
        if reply.kind == "redirect":
            return Response(
                status_code=reply.status, headers={"location": f"{MOVED}/chat/completions"}
            )
        if reply.kind == "status":
            return JSONResponse(
                {"error": {"message": "upstream exploded", "type": "server_error"}},
                status_code=reply.status,
                headers=self.headers(reply),
            )
        if reply.kind == "malformed":
            return PlainTextResponse('{"choices": [', media_type="application/json")
        prompt = " ".join(str(m["content"]) for m in body["messages"])
        answer = self.content(body) if self.content else f"fake reply to: {prompt}"
        usage = {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len(answer.split()),
            "total_tokens": len(prompt.split()) + len(answer.split()),
        }
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _chunks(body["model"], answer, usage if include_usage else None),
                media_type="text/event-stream",
            )
        completion = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
        if self.gzip:
            return Response(
                gzip.compress(json.dumps(completion).encode()),
                media_type="application/json",
                headers={"content-encoding": "gzip"},
            )
        return JSONResponse(completion)


def word_vector(text: str, dimensions: int = 256) -> list[float]:
    """A deterministic vector of the text's lower-cased words (each hashed to a bucket)."""
    vector = [0.0] * dimensions
    for word in text.lower().split():
        vector[int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % dimensions] += 1
    return vector if any(vector) else [1.0] + [0.0] * (dimensions - 1)


async def _chunks(model: str, answer: str, usage: dict[str, int] | None) -> AsyncIterator[bytes]:
    """The chat-completions SSE stream: a role chunk, one chunk per word, a finish chunk,
    the usage chunk when asked for (``stream_options.include_usage``), then ``[DONE]``."""
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n".encode()

    yield event(
        [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
    )
    words = answer.split(" ")
    for i, word in enumerate(words):
        text = word if i == len(words) - 1 else f"{word} "
        yield event([{"index": 0, "delta": {"content": text}, "finish_reason": None}])
        await asyncio.sleep(0)
    yield event([{"index": 0, "delta": {}, "finish_reason": "stop"}])
    if usage is not None:
        yield event([], usage=usage)
    yield b"data: [DONE]\n\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(
    app: FastAPI, port: int, script: ReplyScript | None = None
) -> AsyncIterator[None]:
    """Serves ``app`` with uvicorn on 127.0.0.1:``port`` for the duration of the block; hanging
    replies of ``script`` are released when it ends."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        if script is not None:
            script.released.set()
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def serving_fake_openai() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI(port=free_port())
    async with serving(fake.app(), fake.port, fake):
        yield fake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    args = parser.parse_args()
    fake = FakeOpenAI(port=args.port, latency=args.latency)
    uvicorn.run(fake.app(), host="127.0.0.1", port=args.port, log_level="warning", backlog=4096)


if __name__ == "__main__":
    main()
