"""Small helpers the projection handlers share.

Bulk writes send a whole batch of rows as ONE parameter: the rows as a JSON array of objects,
serialised by orjson (in C) and unpacked by PostgreSQL's ``json_to_recordset`` into typed
columns (``INSERT ... SELECT ... FROM json_to_recordset(...)``, ``UPDATE ... FROM ...``): a
batch of thousands of rows is one statement and one round trip. It replaced one array
parameter per column (``unnest``), for which asyncpg checked every element against abstract
base classes in Python (about 25 such checks per event: a tenth of the projection's CPU).
JSON columns travel as their serialised text and are cast back in SQL, as before. Rows that
JSON cannot carry exactly (a non-finite float, an integer beyond 64 bits, a type orjson does
not know) go the old way, as one array parameter per column.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    ColumnElement,
    Float,
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
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Update
from sqlalchemy.types import TypeEngine


def array_literal(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal, every element quoted (None: ``NULL``): ``{"a","b",NULL}``."""
    quoted = (
        "NULL"
        if value is None
        else '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        for value in values
    )
    return "{" + ",".join(quoted) + "}"


def _as_text(column_type: TypeEngine[Any]) -> bool:
    return isinstance(column_type, JSON | ARRAY)


def unnest_source(
    types: Mapping[str, TypeEngine[Any]], rows: Sequence[Mapping[str, Any]], name: str = "batch"
) -> Subquery:
    """``rows`` as a derived table (one JSON parameter; see the module).

    Every row has the keys of ``types`` (others are ignored). A JSON column's value is already
    serialized JSON text (or None); an ARRAY column's value is a list.
    """
    payload = rows_json(types, rows)
    if payload is None:
        return _array_source(types, rows, name)
    return json_source(types, name, payload)


def json_source(
    types: Mapping[str, TypeEngine[Any]], name: str = "batch", payload: str | None = None
) -> Subquery:
    """The derived table of ``unnest_source`` from the JSON text ``payload`` (``rows_json``),
    its parameter ``j_<name>``: given here, or (None) given when the statement runs."""
    source = (
        func.json_to_recordset(cast(bindparam(f"j_{name}", payload, type_=Text), JSON))
        .table_valued(*(sql_column(c, Text() if _as_json(t) else t) for c, t in types.items()))
        .render_derived(name=f"{name}_raw", with_types=True)
    )
    columns = [
        cast(source.c[c], t).label(c) if _as_json(t) else source.c[c].label(c)
        for c, t in types.items()
    ]
    return select(*columns).subquery(name)


def _as_json(column_type: TypeEngine[Any]) -> bool:
    return isinstance(column_type, JSON)


def _decimal(value: Any) -> str:
    if isinstance(value, Decimal) and value.is_finite():
        return str(value)  # PostgreSQL's numeric input reads every spelling str() gives
    raise TypeError(f"not carried as JSON: {type(value).__name__}")


def rows_json(
    types: Mapping[str, TypeEngine[Any]], rows: Sequence[Mapping[str, Any]]
) -> str | None:
    """The rows as one JSON text, or None if JSON cannot carry them exactly: orjson writes a
    NaN or an infinity as null, and refuses integers beyond 64 bits and unknown types."""
    for name, column_type in types.items():
        if isinstance(column_type, Float) and not all(
            math.isfinite(r[name]) for r in rows if r[name] is not None
        ):
            return None
    try:
        return orjson.dumps(rows, default=_decimal).decode()
    except (TypeError, orjson.JSONEncodeError):
        return None


def _array_source(
    types: Mapping[str, TypeEngine[Any]], rows: Sequence[Mapping[str, Any]], name: str
) -> Subquery:
    """``rows`` as one array parameter per column (the way for rows JSON cannot carry)."""
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


def columns_of(source: Subquery) -> tuple[list[str], Select[Any]]:
    """(column names, a SELECT of them) of a row source, for ``insert(table).from_select``."""
    names = list(source.c.keys())
    return names, select(*(source.c[name] for name in names))


def column_types(table: Table, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The table's types of the columns ``rows`` carry (the table's own type objects, so a
    statement made from them is compiled once: ``batched``)."""
    return {name: table.c[name].type for name in rows[0]}


def unnest_rows(table: Table, rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], Select[Any]]:
    """(column names, a SELECT that yields ``rows``) for ``insert(table).from_select``."""
    return columns_of(unnest_source(column_types(table, rows), rows))


def any_of(column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """``column = ANY(:values)``: one array parameter however many values."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))


def any_in(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``column = ANY(:name)``, the array given when the statement runs."""
    return column == any_(bindparam(name, type_=ARRAY(column.type)))


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


def jsonb_text(value: Any) -> str:
    """``value`` (no floats: orjson writes a NaN as null) as JSON text for a JSONB column:
    orjson's (in C), or the standard library's for what orjson refuses (integers beyond 64
    bits, lone surrogates), so nothing fails that did not before. The spellings differ
    (orjson leaves non-ASCII unescaped), not the JSONB PostgreSQL stores from them."""
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, separators=(",", ":"))
