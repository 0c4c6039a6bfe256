"""The projection's statements that run with every batch, compiled once per shape and run on the
session's asyncpg connection in its transaction (``prepared.fetch_in``).

A statement is written as a function of its row sources (keyword arguments: each a batch's rows
as a derived table) and of named ``bindparam``s. ``execute_batched`` gives it JSON row sources
whose payloads are parameters (``_util.json_source``), compiles it once for each shape (the
function and its sources' columns) and keeps it: a batch then costs the rows' JSON and one
``fetch``. Built per batch and run by SQLAlchemy, the same statements cost a third of
query-api's CPU at 50 events a batch (``bench/README.md``, "prepared").

Rows JSON cannot carry exactly (``_util.rows_json``: a non-finite float, say) are built into
the statement the array way (``_util.unnest_source``) and run through SQLAlchemy, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.types import TypeEngine

from query_api.prepared import Prepared, fetch_in
from query_api.projections._util import json_source, rows_json, unnest_source

Columns = Mapping[str, TypeEngine[Any]]
RowSources = Mapping[str, tuple[Columns, Sequence[Mapping[str, Any]]]]
"""Per source (the builder's keyword): its columns and types, and its rows (not empty)."""

_compiled: dict[Hashable, Prepared] = {}
_shapes: dict[Any, int] = {}
SHAPES_PER_BUILDER = 16
"""More shapes of one builder mean it (a lambda) or its sources' column types are made anew per
call: each batch would then compile again and be kept for good (a leak), so that is refused."""


async def execute_batched(
    session: AsyncSession,
    build: Callable[..., Executable],
    sources: RowSources | None = None,
    params: Mapping[str, Any] | None = None,
    variant: Callable[..., Any] | None = None,
) -> Sequence[Sequence[Any]]:
    """The rows of ``build(**sources)`` run with ``params`` (an empty list without
    ``RETURNING``); with a ``variant`` (a function the statement is made with, e.g. what an
    update sets), ``build(variant, **sources)``, compiled once per variant."""
    for part in (build, variant):
        if getattr(part, "__closure__", None) is not None:
            # A closure could carry one batch's values into the statement compiled for all.
            raise TypeError(f"{part!r}: a batch statement is not made with a closure")
    given = sources or {}
    made = build if variant is None else (build, variant)
    payloads = {name: rows_json(types, rows) for name, (types, rows) in given.items()}
    if any(payload is None for payload in payloads.values()):
        statement = _made(
            build,
            variant,
            {name: unnest_source(t, rows, name) for name, (t, rows) in given.items()},
        )
        return (await session.execute(statement, dict(params or {}))).all()
    shape = (made, tuple((name, tuple(types.items())) for name, (types, _) in given.items()))
    prepared = _compiled.get(shape)
    if prepared is None:
        _shapes[build] = count = _shapes.get(build, 0) + 1
        if count > SHAPES_PER_BUILDER:
            raise RuntimeError(
                f"{build!r} was compiled for {count} shapes: declare the builder and its "
                "sources' column types once (module functions, constants or table columns), "
                "not per call"
            )
        statement = _made(
            build, variant, {name: json_source(types, name) for name, (types, _) in given.items()}
        )
        assert isinstance(statement, ClauseElement)
        prepared = _compiled[shape] = Prepared(statement)
    values = {f"j_{name}": payload for name, payload in payloads.items()}
    return await fetch_in(session, prepared, {**values, **(params or {})})


def _made(
    build: Callable[..., Executable], variant: Callable[..., Any] | None, sources: Any
) -> Executable:
    return build(**sources) if variant is None else build(variant, **sources)
