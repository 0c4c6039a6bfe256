"""Small helpers the projection handlers share.

Bulk writes send each column as ONE array parameter (``INSERT ... SELECT * FROM unnest(...)``,
``UPDATE ... FROM unnest(...)``, ``= ANY(array)``): a batch of thousands of rows is one
statement and one round trip, and asyncpg encodes the arrays in binary. This is about twice as
fast as a multi-row VALUES list. ``unnest`` flattens nested arrays and asyncpg needs codecs for
JSON arrays, so JSON and array columns travel as text and are cast back in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    Subquery,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Update
from sqlalchemy.types import TypeEngine


def array_literal(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal, every element quoted: ``{"a","b"}``."""
    quoted = ('"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values)
    return "{" + ",".join(quoted) + "}"


def _as_text(column_type: TypeEngine[Any]) -> bool:
    return isinstance(column_type, JSON | ARRAY)


def unnest_source(
    types: Mapping[str, TypeEngine[Any]], rows: Sequence[Mapping[str, Any]], name: str = "batch"
) -> Subquery:
    """``rows`` as a derived table (one array parameter per column).

    Every row has the keys of ``types``. A JSON column's value is already serialized JSON text
    (or None); an ARRAY column's value is a list (sent as an array literal).
    """
    params = []
    for column, column_type in types.items():
        if isinstance(column_type, ARRAY):
            values = [None if r[column] is None else array_literal(r[column]) for r in rows]
        else:
            values = [r[column] for r in rows]
        element = Text() if _as_text(column_type) else column_type
        params.append(bindparam(f"u_{name}_{column}", values, type_=ARRAY(element)))
    source = func.unnest(*params).table_valued(*types).render_derived(name=f"{name}_raw")
    columns = [
        cast(source.c[c], t).label(c) if _as_text(t) else source.c[c].label(c)
        for c, t in types.items()
    ]
    return select(*columns).subquery(name)


def unnest_rows(table: Table, rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], Select[Any]]:
    """(column names, a SELECT that yields ``rows``) for ``insert(table).from_select``."""
    names = list(rows[0])
    source = unnest_source({n: table.c[n].type for n in names}, rows)
    return names, select(*(source.c[n] for n in names))


def any_of(column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """``column = ANY(:values)``: one array parameter however many values."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))


async def update_many(session: AsyncSession, statement: Update, rows: list[dict[str, Any]]) -> None:
    """One UPDATE statement executed for many parameter sets (asyncpg pipelines them)."""
    if rows:
        await session.execute(statement, rows)


def last_per_key(items: Iterable[tuple[Any, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The last row given for each key, in order of first appearance (events arrive in order)."""
    latest: dict[Any, dict[str, Any]] = {}
    for key, row in items:
        latest[key] = row
    return list(latest.values())
