"""A consumer's guard against its checkpoints being replaced under it.

A consumer keeps its next offsets in memory between batches (read from ``consumer_offsets`` on
assignment). If an operator switches the database to other read models with their own
checkpoints (query-api's rebuild renames schemas, ADR 0023), those in-memory offsets describe
the old ones. A fence, taken first in every batch's transaction and when offsets are read,
gives a token naming the checkpoints the session sees; when it changes the runner drops the
batch and seeks to the offsets stored with the new models.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class Fence(Protocol):
    """What a consumer runner needs of a fence, so that it asks no more of it than this: a
    batch takes ``lock`` first, and its bookkeeping statement (which starts after it) reads
    ``TOKEN``; elsewhere (offsets read, an idle check, a dead letter's replay) it is called."""

    TOKEN: str
    """The token in SQL, for a statement made once the lock is held."""

    async def lock(self, session: AsyncSession) -> None:
        """Held until the transaction ends."""
        ...

    async def __call__(self, session: AsyncSession) -> Any:
        """``lock``, then the token (two statements)."""
        ...


class CheckpointsMoved(Exception):
    """The batch's transaction sees other checkpoints than the runner's offsets came from."""


class CheckpointFence:
    """Takes advisory lock ``lock_key`` shared for the transaction (a switch takes it
    exclusively, so it waits for the batch in flight and the next batch waits for it), then
    names the ``consumer_offsets`` table the session's search path resolves to (its oid).

    Called, it makes both steps (two statements: a statement's snapshot is taken before it
    waits for the lock, so the table must be resolved by a statement that starts once the lock
    is held). A consumer runner instead takes the lock alone (``lock``) and reads the token
    with its batch's bookkeeping statement, which starts after it (``TOKEN``): one round trip
    fewer per batch."""

    TOKEN = "to_regclass('consumer_offsets')::oid"
    """The token in SQL, for a statement made once the lock is held."""

    def __init__(self, lock_key: int) -> None:
        self._key = lock_key

    async def lock(self, session: AsyncSession) -> None:
        await session.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": self._key})

    async def __call__(self, session: AsyncSession) -> Any:
        await self.lock(session)
        return await session.scalar(text(f"SELECT {self.TOKEN}"))


def checkpoint_fence(lock_key: int) -> CheckpointFence:
    """The fence of read models that a switch replaces by renaming schemas (ADR 0023)."""
    return CheckpointFence(lock_key)
