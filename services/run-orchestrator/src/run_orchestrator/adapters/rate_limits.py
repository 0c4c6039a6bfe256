"""The shared rate-limit schedules (``execution/limits.py``) in run-orchestrator's PostgreSQL,
which every replica shares: one row per (provider, model), changed by one atomic statement.

``reserve`` is an upsert on the row (its row lock serialises concurrent replicas) that moves
``tat`` to ``max(tat, now) + seconds`` and returns the old ``max(tat, now)`` and ``now``, both
on the database's clock (``clock_timestamp()``, not the transaction's start), so replicas'
clocks never matter. It runs on a small asyncpg pool of its own, in autocommit: one round
trip, no transaction held open.
"""

from __future__ import annotations

import asyncio

import asyncpg

RESERVE = """
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now)
INSERT INTO rate_limit_schedules AS s (key, tat)
SELECT $1, clock.now + $2 FROM clock
ON CONFLICT (key) DO UPDATE SET tat = greatest(s.tat, EXCLUDED.tat - $2) + $2
RETURNING s.tat - $2 AS start, (SELECT now FROM clock) AS now
"""
ADJUST = "UPDATE rate_limit_schedules SET tat = tat + $2 WHERE key = $1"
POOL_SIZE = 2


class PostgresRateLimitStore:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _connected(self) -> asyncpg.Pool:
        # Opened on first use: a service without rate limits never connects.
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=1, max_size=POOL_SIZE, statement_cache_size=16
                )
        return self._pool

    async def reserve(self, key: str, seconds: float) -> tuple[float, float]:
        pool = await self._connected()
        row = await pool.fetchrow(RESERVE, key, seconds)
        assert row is not None
        return float(row["start"]), float(row["now"])

    async def adjust(self, key: str, seconds: float) -> None:
        pool = await self._connected()
        await pool.execute(ADJUST, key, seconds)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
