"""The body of every service's ``alembic/env.py``: online, async, URL from DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def _migrate(connection: Connection, target_metadata: MetaData | None) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run(url: str, target_metadata: MetaData | None) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_migrate, target_metadata)
        await connection.commit()
    await engine.dispose()


def run_migrations(target_metadata: MetaData | None = None) -> None:
    url = os.environ.get("DATABASE_URL") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("DATABASE_URL is not set")
    asyncio.run(_run(url, target_metadata))
