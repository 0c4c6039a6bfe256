"""A consumer's guard against its checkpoints being replaced under it.

A consumer keeps its next offsets in memory between batches (read from ``consumer_offsets`` on
assignment). If an operator switches the database to other read models with their own
checkpoints (query-api's rebuild renames schemas, ADR 0023), those in-memory offsets describe
the old ones. A fence, called first in every batch's transaction and when offsets are read,
returns a token naming the checkpoints the session sees; when it changes the runner drops the
batch and seeks to the offsets stored with the new models.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

Fence = Callable[[AsyncSession], Awaitable[Any]]


class CheckpointsMoved(Exception):
    """The batch's transaction sees other checkpoints than the runner's offsets came from."""


def checkpoint_fence(lock_key: int) -> Fence:
    """Takes advisory lock ``lock_key`` shared for the transaction (a switch takes it
    exclusively, so it waits for the batch in flight and the next batch waits for it), then
    names the ``consumer_offsets`` table the session's search path resolves to (its oid)."""

    async def fence(session: AsyncSession) -> Any:
        # Two statements: a statement's snapshot is taken before it waits for the lock, so the
        # table must be resolved by a statement that starts once the lock is held.
        await session.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": lock_key})
        return await session.scalar(text("SELECT to_regclass('consumer_offsets')::oid"))

    return fence
