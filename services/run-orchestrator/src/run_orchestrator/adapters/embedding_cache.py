"""The embedding cache in PostgreSQL, shared by every replica (``tables.embedding_cache``).

Each access is its own short transaction: the cache sits beside the call, not inside a unit of
work (nothing else is written with it). Vectors are stored as little-endian float64 bytes: a
1,536-dimension vector is 12 KiB, read back without parsing text.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from run_orchestrator.adapters.tables import embedding_cache

LOOKUP_CHUNK = 500


def pack(vector: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(vector)}d", *vector)


def unpack(stored: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(stored) // 8}d", stored))


class PostgresEmbeddingCache:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def vectors(self, keys: Sequence[str], not_before: datetime) -> dict[str, list[float]]:
        c = embedding_cache.c
        found: dict[str, list[float]] = {}
        async with self._sessions() as session:
            for start in range(0, len(keys), LOOKUP_CHUNK):
                query = select(c.key, c.vector).where(
                    c.key.in_(keys[start : start + LOOKUP_CHUNK]), c.created_at >= not_before
                )
                for key, stored in await session.execute(query):
                    found[key] = unpack(stored)
        return found

    async def store(self, vectors: Mapping[str, Sequence[float]]) -> None:
        """Insert or refresh (a vector older than the TTL is replaced, and its age reset)."""
        if not vectors:
            return
        rows = [{"key": key, "vector": pack(vector)} for key, vector in vectors.items()]
        insert = pg_insert(embedding_cache)
        async with self._sessions.begin() as session:
            await session.execute(
                insert.on_conflict_do_update(
                    index_elements=[embedding_cache.c.key],
                    set_={
                        "vector": insert.excluded.vector,
                        "created_at": insert.excluded.created_at,
                    },
                ),
                rows,
            )
