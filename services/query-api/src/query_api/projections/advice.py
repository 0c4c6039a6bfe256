"""Advice events -> ``advice``. The request inserts the row (a replay inserts nothing); the
outcome (given or failed) updates it, only while it is still ``requested`` (and its stream's
order puts the request first), so applying an event twice changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Update, bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import AdviceFailed, AdviceGiven, AdviceRequested
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import typed
from query_api.projections._util import update_many
from query_api.tables import advice

REQUESTED = "requested"


async def on_advice_requested(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    rows = [
        {
            "advice_id": event.advice_id,
            "run_id": event.run_id,
            "project_id": event.project_id,
            "provider": event.model.provider,
            "model": event.model.name,
            "focus": event.focus,
            "prompt_id": event.prompt_id,
            "prompt_version_number": event.prompt_version_number,
            "evaluation_id": event.evaluation_id,
            "status": REQUESTED,
            "requested_by": event.actor,
            "requested_at": received.envelope.time,
            "stream_version": received.envelope.streamversion,
        }
        for received, event in typed(events, AdviceRequested)
    ]
    await session.execute(pg_insert(advice).on_conflict_do_nothing(), rows)


def _finished() -> Update:
    c = advice.c
    return (
        update(advice)
        .where(c.advice_id == bindparam("b_id"), c.status == REQUESTED)
        .values(
            status=bindparam("b_status"),
            advice=bindparam("b_advice"),
            error=bindparam("b_error"),
            attempts=bindparam("b_attempts"),
            usage=bindparam("b_usage"),
            cost=bindparam("b_cost"),
            finished_at=bindparam("b_time"),
            stream_version=bindparam("b_stream"),
        )
    )


def _row(received: ReceivedEvent, event: AdviceGiven | AdviceFailed) -> dict[str, Any]:
    given = isinstance(event, AdviceGiven)
    return {
        "b_id": event.advice_id,
        "b_status": "given" if given else "failed",
        "b_advice": event.advice.model_dump(mode="json")
        if isinstance(event, AdviceGiven)
        else None,
        "b_error": event.error if isinstance(event, AdviceFailed) else None,
        "b_attempts": event.attempts,
        "b_usage": event.usage.model_dump(mode="json"),
        "b_cost": None if event.cost is None else event.cost.model_dump(mode="json"),
        "b_time": received.envelope.time,
        "b_stream": received.envelope.streamversion,
    }


async def on_advice_given(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    rows = [_row(received, event) for received, event in typed(events, AdviceGiven)]
    await update_many(session, _finished(), rows)


async def on_advice_failed(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    rows = [_row(received, event) for received, event in typed(events, AdviceFailed)]
    await update_many(session, _finished(), rows)
