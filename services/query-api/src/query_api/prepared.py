"""Statements written in SQLAlchemy Core, compiled once for asyncpg, and run without SQLAlchemy's
execution machinery: the hot reads on their own pool (``hot_reads``), and statements run on a
session's own connection inside its transaction (``fetch_in``): the lexicon of a search, and
the projection's statements that run with every batch (``projections.batched``).

Per statement, SQLAlchemy's execution costs a cache key computed over the whole construct (a
construct built per call has no memoised key), a compiled-cache lookup, parameter processing
and its result machinery; for a projection batch of 50 events that was a third of query-api's
CPU (``bench/README.md``, "prepared").
"""

from __future__ import annotations

from functools import cache
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, Text, literal_column, text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


@cache
def _dialect() -> PGDialect_asyncpg:
    return PGDialect_asyncpg(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]


def constant(value: str) -> ColumnElement[Any]:
    """A string constant written into the SQL, not sent as a parameter: the statement reads as
    it is meant (``pg_stat_statements``, ``EXPLAIN``) and no value is sent per request."""
    return literal_column("'" + value.replace("'", "''") + "'", Text)


class Prepared:
    """A Core statement compiled once to asyncpg's SQL (``$1``, ``$2`` ...). Parameters are
    given by their ``bindparam`` names; a name absent from a call takes the value compiled in
    (a literal compared with, for example). Lists of constants go in as ``constant``s (an
    ``in_`` of plain values would be an expanding parameter, rendered per call)."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(
            dialect=_dialect(), compile_kwargs={"render_postcompile": True}
        )
        assert isinstance(compiled, SQLCompiler)
        if "__[POSTCOMPILE_" in compiled.string:  # left by an IN inside RETURNING, for one
            raise ValueError("an expanding IN was not rendered: write its values as constants")
        self.sql = compiled.string
        self._names = tuple(compiled.positiontup or ())
        self._compiled = dict(compiled.params)

    def args(self, params: dict[str, Any]) -> list[Any]:
        return [params[n] if n in params else self._compiled[n] for n in self._names]

    def explained(self) -> Prepared:
        """The same statement under ``EXPLAIN`` (its plan as it runs, same parameters)."""
        copy = Prepared.__new__(Prepared)
        copy.sql, copy._names, copy._compiled = "EXPLAIN " + self.sql, self._names, self._compiled
        return copy


async def fetch_in(
    session: AsyncSession, statement: Prepared, params: dict[str, Any]
) -> list[asyncpg.Record]:
    """The statement's rows, run on the session's own connection in its transaction (its
    snapshot), without SQLAlchemy's statement and result machinery."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    if not driver.is_in_transaction():
        # SQLAlchemy's asyncpg adapter opens the session's transaction with its first
        # statement: one begun but not opened yet is opened first, so this runs inside it.
        await connection.execute(text("SELECT 1"))
    rows: list[asyncpg.Record] = await driver.fetch(statement.sql, *statement.args(params))
    return rows
