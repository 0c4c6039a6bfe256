"""Evaluator definition events -> ``evaluators``, ``evaluator_versions``.

Definitions are few and change rarely: plain multi-row statements. Both inserts ignore a row
already there (a replay), and the evaluator's ``latest_version`` / ``stream_version`` only move
forward (``greatest``), so applying an event twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import EvaluatorCreated, EvaluatorVersionCreated
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import typed
from query_api.projections._util import last_per_key, update_many
from query_api.tables import evaluator_versions, evaluators


async def on_evaluator_created(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    rows = [
        {
            "evaluator_id": event.evaluator_id,
            "project_id": event.project_id,
            "name": event.name,
            "description": event.description,
            "created_by": event.actor,
            "latest_version": 0,
            "created_at": received.envelope.time,
            "updated_at": received.envelope.time,
            "stream_version": received.envelope.streamversion,
        }
        for received, event in typed(events, EvaluatorCreated)
    ]
    await session.execute(pg_insert(evaluators).on_conflict_do_nothing(), rows)


async def on_version_created(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    found = typed(events, EvaluatorVersionCreated)
    rows = [
        {
            "evaluator_id": event.evaluator_id,
            "version": event.version,
            "assertions": [a.model_dump(mode="json") for a in event.assertions],
            "message": event.message,
            "actor": event.actor,
            "created_at": received.envelope.time,
            "stream_version": received.envelope.streamversion,
        }
        for received, event in found
    ]
    await session.execute(pg_insert(evaluator_versions).on_conflict_do_nothing(), rows)
    latest = last_per_key(
        (
            str(event.evaluator_id),
            {
                "b_id": event.evaluator_id,
                "b_version": event.version,
                "b_time": received.envelope.time,
                "b_stream": received.envelope.streamversion,
            },
        )
        for received, event in found
    )
    c = evaluators.c
    statement = (
        update(evaluators)
        .where(c.evaluator_id == bindparam("b_id"))
        .values(
            latest_version=func.greatest(c.latest_version, bindparam("b_version")),
            updated_at=func.greatest(c.updated_at, bindparam("b_time")),
            stream_version=func.greatest(c.stream_version, bindparam("b_stream")),
        )
    )
    await update_many(session, statement, latest)
