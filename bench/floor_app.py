"""The smallest server that can answer a page: the floor ``bench.read_floor`` measures.

A raw ASGI app (no framework, no middleware) served by uvicorn the way query-api is served
(uvloop, eventkit's one-write httptools protocol, ``FLOOR_WORKERS`` processes). Each GET
answers a page of ``FLOOR_BODY_BYTES`` of JSON:

- ``FLOOR_MODE=static``: the same bytes from memory (the HTTP server alone);
- ``FLOOR_MODE=database``: the bytes read by primary key from PostgreSQL (``floor_pages``,
  1,000 rows, the key taken from the query string) over an asyncpg pool, one statement a
  request: the least any read of a stored document can cost.

    FLOOR_MODE=database FLOOR_DSN=postgresql://... uvicorn --factory bench.floor_app:app
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import asyncpg

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PAGES = 1000
"""Rows of ``floor_pages``: requests spread over them like random pages."""

HEADERS = [(b"content-type", b"application/json")]


def page_body(size: int, key: int) -> bytes:
    """``size`` bytes of a JSON array whose content depends on ``key``."""
    item = b'{"id":%d,"output":"%s"}'
    count, filler = 50, max(1, size // 50 - 24)
    return b"[" + b",".join(item % (key * count + i, b"x" * filler) for i in range(count)) + b"]"


def app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI app of one worker process (uvicorn's ``factory``)."""
    mode = os.environ.get("FLOOR_MODE", "static")
    size = int(os.environ.get("FLOOR_BODY_BYTES", "40000"))
    static = page_body(size, 0)
    pool: asyncpg.Pool | None = None

    async def lifespan(receive: Receive, send: Send) -> None:
        nonlocal pool
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if mode == "database":
                    dsn = os.environ["FLOOR_DSN"]
                    pool = await asyncpg.create_pool(dsn, min_size=4, max_size=4)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if pool is not None:
                    await pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if pool is None:
            body = static
        else:
            key = int(scope["query_string"].partition(b"=")[2] or b"0") % PAGES
            body = await pool.fetchval("SELECT body FROM floor_pages WHERE id = $1", key)
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": body})

    return serve
