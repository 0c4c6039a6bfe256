"""A scratch database holding every eventkit table plus a projection that records each apply."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from promptworks_eventkit.db import create_engine, create_sessionmaker
from promptworks_eventkit.tables import metadata
from tests.support.infra import Infra, create_database, drop_database

scratch = MetaData()
# Deliberately without a unique key: a second apply of one event would show as a second row.
applied = Table(
    "applied",
    scratch,
    Column("event_id", Text, nullable=False),
    Column("stream_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("consumer", Text, nullable=False),
)


@dataclass
class ScratchDb:
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


@contextlib.asynccontextmanager
async def scratch_database(infra: Infra, *extra: MetaData) -> AsyncIterator[ScratchDb]:
    """A new database with every eventkit table, the scratch tables and ``extra``'s."""
    url = await create_database(infra, "eventkit")
    engine = create_engine(url, pool_size=5)
    async with engine.begin() as connection:
        for tables in (metadata, scratch, *extra):
            await connection.run_sync(tables.create_all)
    try:
        yield ScratchDb(url, engine, create_sessionmaker(engine))
    finally:
        await engine.dispose()
        await drop_database(infra, url)


@pytest.fixture
async def scratch_db(infra: Infra) -> AsyncIterator[ScratchDb]:
    async with scratch_database(infra) as db:
        yield db
