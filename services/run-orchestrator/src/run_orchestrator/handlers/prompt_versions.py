"""Consumer "run-orchestrator.prompt-versions": keeps the local copy of prompt versions.

Runs resolve their prompt version here, never in prompt-service's database. Versions are
immutable, so a batch is stored at once and versions already present are kept. The handler
works in a write-port transaction joined to the consumer batch's session, so the copy commits
with the batch's offsets.
"""

from __future__ import annotations

from collections.abc import Sequence

from promptworks_contracts.events import PromptVersionCreated
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import EventRouter, typed
from promptworks_eventkit.writing.port import Transaction
from run_orchestrator.handlers.ports import RunRepository

CONSUMER_NAME = "run-orchestrator.prompt-versions"


async def store_versions(tx: Transaction[RunRepository], received: Sequence[ReceivedEvent]) -> None:
    await tx.repos.add_versions([event for _, event in typed(received, PromptVersionCreated)])


def prompt_versions_router() -> EventRouter[Transaction[RunRepository]]:
    return EventRouter({PromptVersionCreated: store_versions})
