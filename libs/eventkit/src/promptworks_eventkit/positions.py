"""Read-your-writes: wait (bounded) until a consumer has applied a stream up to a version."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_eventkit.tables import consumer_stream_positions


async def applied_version(
    sessions: async_sessionmaker[AsyncSession], consumer: str, topic: str, stream_id: str
) -> int:
    c = consumer_stream_positions.c
    async with sessions() as session:
        version = await session.scalar(
            select(c.version).where(
                c.consumer == consumer, c.topic == topic, c.stream_id == stream_id
            )
        )
    return int(version or 0)


async def wait_for_stream_version(
    sessions: async_sessionmaker[AsyncSession],
    consumer: str,
    topic: str,
    stream_id: str,
    version: int,
    timeout: float,
    interval: float = 0.02,
) -> bool:
    """True once ``consumer`` applied ``stream_id`` up to ``version``; False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if await applied_version(sessions, consumer, topic, stream_id) >= version:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)
