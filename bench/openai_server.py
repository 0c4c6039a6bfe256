"""A lean OpenAI-compatible chat-completions server for benchmarks (aiohttp.web, no framework):
every answer takes ``--latency`` seconds. The client under test and this server share the
machine's cores, so the server must cost as little CPU as possible; the tests' fake
(``tests/support/fake_openai.py``, FastAPI) costs about twice as much per request.

    uv run python -m bench.openai_server --port 8123 --latency 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiohttp import web


def app(latency: float) -> web.Application:
    async def complete(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(latency)
        prompt = " ".join(str(m["content"]) for m in body["messages"])
        answer = f"fake reply to: {prompt}"
        prompt_tokens, completion_tokens = len(prompt.split()), len(answer.split())
        return web.json_response(
            {
                "id": "chatcmpl-bench",
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
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    application = web.Application()
    application.router.add_post("/v1/chat/completions", complete)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    web.run_app(
        app(args.latency),
        host="127.0.0.1",
        port=args.port,
        backlog=4096,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
