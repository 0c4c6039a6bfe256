"""QuickTestCompleted -> ``quick_tests``: one row per quick test, inserted once (its stream has
only this event, so applying it twice inserts nothing)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import QuickTestCompleted
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import typed
from query_api.tables import quick_tests


async def on_quick_test_completed(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    rows = [
        {
            "quick_test_id": event.quick_test_id,
            "project_id": event.project_id,
            "prompt_id": event.prompt_id,
            "prompt_version_id": event.prompt_version_id,
            "prompt_version_number": event.prompt_version_number,
            "label": event.label,
            "provider": event.model.provider,
            "model_name": event.model.name,
            "parameters": event.parameters.model_dump(mode="json"),
            "variables": event.variables,
            "output": event.output,
            "error": event.error,
            "prompt_tokens": event.usage.prompt_tokens,
            "completion_tokens": event.usage.completion_tokens,
            "total_tokens": event.usage.total_tokens,
            "cost": None if event.cost is None else event.cost.amount,
            "currency": None if event.cost is None else event.cost.currency,
            "latency_ms": event.latency_ms,
            "finish_reason": event.finish_reason,
            "streamed": event.streamed,
            "actor": event.actor,
            "created_at": received.envelope.time,
        }
        for received, event in typed(events, QuickTestCompleted)
    ]
    await session.execute(pg_insert(quick_tests).on_conflict_do_nothing(), rows)
