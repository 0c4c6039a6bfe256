"""Small helpers the projection handlers share.

Bulk writes send each column as ONE array parameter (``INSERT ... SELECT * FROM unnest(...)``,
``= ANY(array)``): a batch of thousands of rows is one statement and one round trip, and
asyncpg encodes the arrays in binary. This is about twice as fast as a multi-row VALUES list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, Table, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Update

from promptworks_contracts.events import DomainEvent
from promptworks_eventkit.consumer import ReceivedEvent

E = TypeVar("E", bound=DomainEvent)


def typed(events: Sequence[ReceivedEvent], model: type[E]) -> list[tuple[ReceivedEvent, E]]:
    """The events with their data narrowed to ``model`` (the router only routes that type)."""
    pairs: list[tuple[ReceivedEvent, E]] = []
    for received in events:
        event = received.event
        assert isinstance(event, model)
        pairs.append((received, event))
    return pairs


def unnest_rows(table: Table, rows: Sequence[dict[str, Any]]) -> tuple[list[str], Select[Any]]:
    """(column names, a SELECT that yields ``rows``) for ``insert(table).from_select``.

    Every row must have the same keys, all columns of ``table`` without JSON types.
    """
    names = list(rows[0])
    arrays = [
        bindparam(f"u_{name}", [row[name] for row in rows], type_=ARRAY(table.c[name].type))
        for name in names
    ]
    source = func.unnest(*arrays).table_valued(*names).render_derived(name="batch")
    return names, select(*(source.c[name] for name in names))


def any_of(column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """``column = ANY(:values)``: one array parameter however many values."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))


async def update_many(session: AsyncSession, statement: Update, rows: list[dict[str, Any]]) -> None:
    """One UPDATE statement executed for many parameter sets (asyncpg pipelines them)."""
    if rows:
        await session.execute(statement, rows)
