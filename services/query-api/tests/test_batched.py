"""``projections.batched.execute_batched``: a batch statement compiled once per shape and run on
the session's asyncpg connection, inside the session's transaction; rows JSON cannot carry run
the array way through SQLAlchemy, with the same effect."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest
from sqlalchemy import Insert, Subquery, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from query_api.projections import batched
from query_api.projections._util import any_in, columns_of
from query_api.projections.batched import execute_batched
from query_api.projections.evaluations import METRIC_TYPES
from query_api.read_schema import LIVE, use_schema
from query_api.tables import metrics


def insert_metrics(given: Subquery) -> Insert:
    return (
        metrics.insert().from_select(*columns_of(given)).returning(metrics.c.name, metrics.c.value)
    )


def count_of() -> Any:
    return select(func.count()).where(any_in(metrics.c.result_id, "ids"))


def metric(result_id: uuid.UUID, name: str, value: float | None) -> dict[str, Any]:
    return {"result_id": result_id, "name": name, "value": value, "passed": True, "detail": None}


async def test_a_batch_statement_is_compiled_once_and_runs_in_the_transaction(
    database: Any,
) -> None:
    engine = create_async_engine(await database("query-api"), poolclass=NullPool)
    use_schema(engine, LIVE)
    sessions = async_sessionmaker(engine)
    result = uuid.uuid4()
    batches = [
        [metric(result, "a", 0.5), metric(result, 'quo"te é', None)],
        [metric(result, "b", math.nan)],  # JSON cannot carry it: the array way
        [metric(result, "c", 1e-300)],
    ]
    try:
        async with sessions() as session, session.begin():
            # The session's first statement: its transaction is opened for it.
            answers = [
                await execute_batched(session, insert_metrics, {"given": (METRIC_TYPES, rows)})
                for rows in batches
            ]
            [(counted,)] = await execute_batched(session, count_of, params={"ids": [result]})
            await session.rollback()
        async with sessions() as session:
            [(left,)] = await execute_batched(session, count_of, params={"ids": [result]})
    finally:
        await engine.dispose()

    assert [[(name, value) for name, value in rows] for rows in answers[::2]] == [
        [("a", 0.5), ('quo"te é', None)],
        [("c", 1e-300)],
    ]
    [(name, value)] = answers[1]
    assert name == "b" and math.isnan(value)
    assert (counted, left) == (4, 0)  # written in the transaction, gone with its rollback
    assert sum(1 for shape in batched._compiled if shape[0] is insert_metrics) == 1


async def test_a_builder_closing_over_a_batch_is_refused(database: Any) -> None:
    # Its values would be compiled into the statement kept for every later batch.
    engine = create_async_engine(await database("query-api"), poolclass=NullPool)
    use_schema(engine, LIVE)
    ids = [uuid.uuid4()]

    def stale() -> Any:
        return select(func.count()).where(metrics.c.result_id == ids[0])

    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            with pytest.raises(TypeError, match="not made with a closure"):
                await execute_batched(session, stale)
    finally:
        await engine.dispose()


def count_given(given: Subquery) -> Any:
    return select(func.count()).select_from(given)


async def test_column_types_made_anew_per_call_are_refused(database: Any) -> None:
    # Each call a new shape: every batch would compile again and be kept for good.
    from sqlalchemy import Float, Text

    engine = create_async_engine(await database("query-api"), poolclass=NullPool)
    use_schema(engine, LIVE)
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            stable = {"name": Text(), "value": Float()}
            for _ in range(batched.SHAPES_PER_BUILDER + 2):  # one shape, many batches
                [(one,)] = await execute_batched(
                    session, count_given, {"given": (stable, [{"name": "a", "value": 1.0}])}
                )
                assert one == 1
            with pytest.raises(
                RuntimeError, match="declare the builder and its sources' column types once"
            ):
                for _ in range(batched.SHAPES_PER_BUILDER + 1):
                    fresh = {"name": Text(), "value": Float()}
                    await execute_batched(
                        session, count_given, {"given": (fresh, [{"name": "a", "value": 1.0}])}
                    )
    finally:
        await engine.dispose()
