"""``JudgementStore`` on PostgreSQL: each judgement kept in its own short transaction (not the
consumer batch's), so it survives the batch's rollback."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from evaluator.adapters.tables import kept_judgements
from promptworks_contracts.values import Judgement


class PostgresJudgementStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def recall(self, keys: Sequence[str]) -> dict[str, Judgement]:
        if not keys:
            return {}
        c = kept_judgements.c
        async with self._sessions() as session:
            rows = await session.execute(select(c.key, c.judgement).where(c.key.in_(list(keys))))
            return {key: Judgement.model_validate(value) for key, value in rows}

    async def keep(self, key: str, judgement: Judgement) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                pg_insert(kept_judgements)
                .values(key=key, judgement=judgement.model_dump(mode="json"))
                .on_conflict_do_nothing()
            )
