"""Consumer "run-orchestrator.prompt-versions": keeps the local copy of prompt versions.

Runs resolve their prompt version here, never in prompt-service's database. Versions are
immutable, so a batch is one bulk INSERT that ignores rows already present.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import PromptVersionCreated
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import EventRouter
from run_orchestrator.domain.prompt_version import version_row
from run_orchestrator.tables import prompt_versions

CONSUMER_NAME = "run-orchestrator.prompt-versions"


async def store_versions(session: AsyncSession, received: Sequence[ReceivedEvent]) -> None:
    rows = [version_row(r.event) for r in received if isinstance(r.event, PromptVersionCreated)]
    if rows:
        await session.execute(pg_insert(prompt_versions).on_conflict_do_nothing(), rows)


def prompt_versions_router() -> EventRouter[AsyncSession]:
    return EventRouter({PromptVersionCreated: store_versions})
