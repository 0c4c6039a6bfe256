"""A whole run's results as NDJSON, streamed: a server-side cursor over the stored documents
(each exactly as the paged list answers it), read in chunks, so memory stays constant whatever
the run's size and nothing is joined or serialised per row. One REPEATABLE READ snapshot for
the whole export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from query_api.queries.result_filters import ResultFilter
from query_api.tables import results

CHUNK = 5000
"""Rows per cursor fetch, and per write to the client."""


async def results_ndjson(
    sessions: async_sessionmaker[AsyncSession], run_id: UUID, where: ResultFilter
) -> AsyncIterator[bytes]:
    res = results.c
    query = (
        select(res.document)
        .where(and_(res.run_id == run_id, *where.conditions()))
        .order_by(res.case_index, res.repetition, res.result_id)
        .execution_options(yield_per=CHUNK)
    )
    async with sessions() as session:
        await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        stream = await session.stream(query)
        async for rows in stream.partitions(CHUNK):
            yield ("\n".join(row[0] for row in rows) + "\n").encode()
