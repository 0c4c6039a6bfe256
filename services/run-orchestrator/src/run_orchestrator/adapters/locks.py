"""Per-run PostgreSQL advisory locks: at most one orchestrator process executes a run.

The lock is session-level and lives on a dedicated connection, so it is released when the
connection closes, including when the process dies. It only prevents wasted duplicate model
calls: correctness does not depend on it, because every batch is appended with the stream's
expected version and ``run_results`` refuses a second result for a (case, repetition).
"""

from __future__ import annotations

import asyncio
from uuid import UUID

import asyncpg


def lock_key(run_id: UUID) -> int:
    """A signed 64-bit key taken from the run id's (random) leading bytes."""
    return int.from_bytes(run_id.bytes[:8], "big", signed=True)


class PostgresRunLocks:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    async def try_acquire(self, run_id: UUID) -> PostgresRunLock | None:
        """The lock, or None when another process holds it."""
        connection: asyncpg.Connection = await asyncpg.connect(self._dsn)
        try:
            locked = await connection.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(run_id))
        except BaseException:
            connection.terminate()
            raise
        if not locked:
            await connection.close()
            return None
        return PostgresRunLock(connection)


class PostgresRunLock:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def release(self) -> None:
        """Closing the session releases the lock; shielded so a cancelled run still frees it."""
        try:
            await asyncio.shield(self._connection.close(timeout=5))
        except Exception:
            self._connection.terminate()
