"""The body of every service's ``alembic/env.py``: online, async, URL from DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def _migrate(
    connection: Connection, target_metadata: MetaData | None, search_path: str | None
) -> None:
    if search_path is not None:
        connection.exec_driver_sql(f"SET search_path = {search_path}")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # Alembic's own table stays in public whatever schema comes first in the search path.
        version_table_schema="public" if search_path is not None else None,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run(url: str, target_metadata: MetaData | None, search_path: str | None) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_migrate, target_metadata, search_path)
        await connection.commit()
    await engine.dispose()


def run_migrations(target_metadata: MetaData | None = None, search_path: str | None = None) -> None:
    """``search_path``: the schemas unqualified names resolve to (query-api's read models live
    in a schema of their own, ADR 0023); the server's default when None."""
    url = os.environ.get("DATABASE_URL") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("DATABASE_URL is not set")
    asyncio.run(_run(url, target_metadata, search_path))
