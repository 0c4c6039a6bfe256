"""A whole run's results as NDJSON, streamed: a server-side cursor read in chunks, each result
serialised as the paged list answers it (``ResultOut``), so memory stays constant whatever the
run's size. One REPEATABLE READ snapshot for the whole export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from pydantic import TypeAdapter
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from query_api.queries.evaluation_sources import FIRST, EvaluationSource
from query_api.queries.result_filters import ResultFilter
from query_api.queries.runs import metrics_json, result_fields, verdict_columns
from query_api.schemas.runs import ResultOut
from query_api.tables import results, runs

CHUNK = 2000
"""Rows per cursor fetch, and per write to the client."""

RESULT = TypeAdapter(ResultOut)


async def results_ndjson(
    sessions: async_sessionmaker[AsyncSession],
    run_id: UUID,
    where: ResultFilter,
    source: EvaluationSource = FIRST,
) -> AsyncIterator[bytes]:
    res = results.c
    query = (
        select(
            results,
            metrics_json(res.result_id, source).label("metrics"),
            select(runs.c.currency)
            .where(runs.c.run_id == run_id)
            .scalar_subquery()
            .label("currency"),
            *verdict_columns(source),
        )
        .outerjoin(source.verdicts, source.verdicts.c.result_id == res.result_id)
        .where(and_(res.run_id == run_id, *where.conditions(source)))
        .order_by(res.case_index, res.repetition, res.result_id)
        .execution_options(yield_per=CHUNK)
    )
    async with sessions() as session:
        await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        stream = await session.stream(query)
        async for rows in stream.partitions(CHUNK):
            yield b"".join(
                RESULT.dump_json(ResultOut(**result_fields(row))) + b"\n" for row in rows
            )
