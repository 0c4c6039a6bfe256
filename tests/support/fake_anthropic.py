"""A real HTTP server on loopback that speaks Anthropic's Messages API (whole answers and SSE
streams), for tests. How it answers is told per test (``ReplyScript``, see fake_replies.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from tests.support.fake_openai import free_port, serving
from tests.support.fake_replies import Reply, ReplyScript

ERROR_TYPES = {429: "rate_limit_error", 529: "overloaded_error", 404: "not_found_error"}


@dataclass
class FakeAnthropic(ReplyScript):
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    api_keys: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/messages")
        async def messages(request: Request) -> Response:
            self.arrived()
            # Older SDKs send x-api-key, anthropic 2.x a bearer token: accept either. Recorded
            # before any await: api_keys[i] belongs to request_times[i].
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
            self.api_keys.append(request.headers.get("x-api-key") or bearer)
            try:
                self.saw(request.url.path, request.headers.raw, await request.body())
                body = await request.json()
                self.requests.append(body)
                reply = self.next_reply()
                if body["model"] == "claude-unknown":
                    reply = Reply.error(404)
                await self.wait(reply)
                return self._answer(reply, body)
            finally:
                self.left()

        return app

    def _answer(self, reply: Reply, body: dict[str, Any]) -> Response:
        if reply.kind == "status":
            kind = ERROR_TYPES.get(reply.status, "api_error")
            message = f"model: {body['model']}" if reply.status == 404 else "upstream exploded"
            return JSONResponse(
                {"type": "error", "error": {"type": kind, "message": message}},
                status_code=reply.status,
                headers=self.headers(reply),
            )
        if reply.kind == "malformed":
            return PlainTextResponse('{"content": [', media_type="application/json")
        prompt = " ".join(m["content"] for m in body["messages"])
        answer = f"claude says: {prompt}"
        usage = {"input_tokens": len(prompt.split()), "output_tokens": 4}
        message = {
            "id": f"msg_{uuid.uuid4().hex}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": answer}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if body.get("stream"):
            return StreamingResponse(_events(message, answer), media_type="text/event-stream")
        return JSONResponse(message)


async def _events(message: dict[str, Any], answer: str) -> AsyncIterator[bytes]:
    """The Messages SSE stream: message_start, one text block in word deltas, message_delta
    with the stop reason and output tokens, message_stop."""

    def event(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": usage["input_tokens"], "output_tokens": 1}
    yield event("message_start", {"message": start})
    yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    yield event("ping", {})
    words = answer.split(" ")
    for i, word in enumerate(words):
        text = word if i == len(words) - 1 else f"{word} "
        delta = {"type": "text_delta", "text": text}
        yield event("content_block_delta", {"index": 0, "delta": delta})
    yield event("content_block_stop", {"index": 0})
    yield event(
        "message_delta",
        {
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
    )
    yield event("message_stop", {})


@asynccontextmanager
async def serving_fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    fake = FakeAnthropic(port=free_port())
    async with serving(fake.app(), fake.port, fake):
        yield fake
