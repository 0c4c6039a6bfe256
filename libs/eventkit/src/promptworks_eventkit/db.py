"""Database engines. Services use SQLAlchemy's async engine; the relay's LISTEN uses asyncpg."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(url: str, pool_size: int = 10, pre_ping: bool = True) -> AsyncEngine:
    """``pre_ping``: test each connection as it leaves the pool (with asyncpg three round trips:
    begin, an empty statement, rollback), so one closed by a database restart is replaced before
    use. Without it such a connection fails the statement it is used for, and SQLAlchemy then
    replaces every connection of the pool older than that failure."""
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def asyncpg_dsn(url: str) -> str:
    """The same database as a plain ``postgresql://`` DSN for asyncpg.connect()."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def redacted(url: str) -> str:
    """A URL safe to log: the password is masked."""
    return make_url(url).render_as_string(hide_password=True)
