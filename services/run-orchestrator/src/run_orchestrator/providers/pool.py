"""The SDK clients' connection pool, on aiohttp.

Both SDKs (openai, anthropic) send requests through an httpx2 client; their
``DefaultAioHttpClient`` swaps its transport for aiohttp, whose pool keeps up at hundreds of
concurrent calls where httpx's does not (bench/README.md). The pool allows ``pool_size``
connections, kept alive, so it never queues a call the executor's concurrency admitted.
"""

from __future__ import annotations

import httpx2


def pool_limits(pool_size: int) -> httpx2.Limits:
    return httpx2.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
