"""BatchCreated -> ``batches``: the matrix as created (progress is read from ``runs``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import BatchCreated
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import typed
from query_api.tables import batches


async def on_batch_created(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    rows = [
        {
            "batch_id": event.batch_id,
            "project_id": event.project_id,
            "name": event.name,
            "cells": [cell.model_dump(mode="json") for cell in event.cells],
            "total_calls": event.total_calls,
            "created_at": received.envelope.time,
            "stream_version": received.envelope.streamversion,
        }
        for received, event in typed(events, BatchCreated)
    ]
    await session.execute(pg_insert(batches).on_conflict_do_nothing(), rows)
