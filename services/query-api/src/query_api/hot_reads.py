"""The hottest reads on asyncpg directly: statements compiled once, one statement per page.

The results page, the run list and the prompt list's unfiltered pages are answered by one SQL
statement each (ADR 0025): one
statement reads one snapshot, so they need no transaction, and a page's total, its run and its
rows agree without one. Going through SQLAlchemy's session cost each request a session, a
transaction (begin, set read only, rollback), greenlet switches and the result machinery:
about 900 Python calls of a results page's 6,200 (``bench.request_cpu``). Here a request costs
a pool checkout and one ``fetch``.

Statements are still written with SQLAlchemy Core (table objects, types) and compiled once for
asyncpg (``prepared.Prepared``); asyncpg prepares each on first use per connection and caches
it.

The pool is query-api's second, of ``DB_POOL_SIZE`` connections per process like the
SQLAlchemy engine's (that one keeps every other read, the API keys and the projection). Its
connections read the live models (``read_schema``: ``search_path``, no JIT), are read-only
(``default_transaction_read_only``) and never change
their session state, so a connection goes back to the pool without asyncpg's reset query (a
round trip per request); an open transaction would still be rolled back. After a PostgreSQL
restart a statement on a dead connection fails once (a 500, as with the engine without
pre-ping, ADR 0019); the pool then replaces that connection.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from promptworks_eventkit.db import asyncpg_dsn
from query_api import read_schema
from query_api.prepared import Prepared


class _Connection(asyncpg.Connection):  # type: ignore[misc]
    def get_reset_query(self) -> str:
        """Nothing to reset: hot reads set no session state (see the module's docstring)."""
        return ""


class HotReads:
    """The pool, opened and closed with the app (``start``, ``close``)."""

    def __init__(self, database_url: str, size: int) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._size = size
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=0,
            max_size=self._size,
            connection_class=_Connection,
            server_settings={
                "search_path": read_schema.search_path(read_schema.LIVE),
                "jit": "off",
                "default_transaction_read_only": "on",  # reads only, by construction
            },
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def rows(self, statement: Prepared, params: dict[str, Any]) -> list[asyncpg.Record]:
        if self._pool is None:
            raise RuntimeError("hot reads are used before the app started")
        async with self._pool.acquire() as connection:
            found: list[asyncpg.Record] = await connection.fetch(
                statement.sql, *statement.args(params)
            )
            return found

    async def row(self, statement: Prepared, params: dict[str, Any]) -> asyncpg.Record | None:
        """The statement's first row (None when it has none)."""
        if self._pool is None:
            raise RuntimeError("hot reads are used before the app started")
        async with self._pool.acquire() as connection:
            row: asyncpg.Record | None = await connection.fetchrow(
                statement.sql, *statement.args(params)
            )
            return row
