"""A real HTTP server on loopback that speaks Anthropic's Messages API, for tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.fake_openai import free_port, serving


@dataclass
class FakeAnthropic:
    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    api_keys: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/messages")
        async def messages(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(body)
            # Older SDKs send x-api-key, anthropic 2.x a bearer token: accept either.
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
            self.api_keys.append(request.headers.get("x-api-key") or bearer)
            if body["model"] == "claude-unknown":
                error = {"type": "not_found_error", "message": "model: claude-unknown"}
                return JSONResponse({"type": "error", "error": error}, status_code=404)
            prompt = " ".join(m["content"] for m in body["messages"])
            answer = f"claude says: {prompt}"
            return JSONResponse(
                {
                    "id": f"msg_{uuid.uuid4().hex}",
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": [{"type": "text", "text": answer}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": len(prompt.split()), "output_tokens": 4},
                }
            )

        return app


@asynccontextmanager
async def serving_fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    fake = FakeAnthropic(port=free_port())
    async with serving(fake.app(), fake.port):
        yield fake
