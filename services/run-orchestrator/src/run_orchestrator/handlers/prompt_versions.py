"""Consumer "run-orchestrator.prompt-versions": keeps the local copy of prompt versions and
of where their labels point.

Runs resolve their prompt version here, never in prompt-service's database. Versions are
immutable, so a batch is stored at once and versions already present are kept. The handler
works in a write-port transaction joined to the consumer batch's session, so the copy commits
with the batch's offsets.
"""

from __future__ import annotations

from collections.abc import Sequence

from promptworks_contracts.events import PromptLabelMoved, PromptLabelRemoved, PromptVersionCreated
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import EventRouter, typed
from promptworks_eventkit.writing.port import Transaction
from run_orchestrator.handlers.ports import RunRepository

CONSUMER_NAME = "run-orchestrator.prompt-versions"


async def store_versions(tx: Transaction[RunRepository], received: Sequence[ReceivedEvent]) -> None:
    """Each version keeps its prompt's project (its envelope's; ``default`` before projects)."""
    by_project: dict[str, list[PromptVersionCreated]] = {}
    for cause, event in typed(received, PromptVersionCreated):
        by_project.setdefault(cause.envelope.project, []).append(event)
    for project, versions in by_project.items():
        await tx.repos.add_versions(versions, project)


async def move_labels(tx: Transaction[RunRepository], received: Sequence[ReceivedEvent]) -> None:
    for _, moved in typed(received, PromptLabelMoved):
        await tx.repos.move_label(moved.prompt_id, moved.label, moved.version_id)


async def remove_labels(tx: Transaction[RunRepository], received: Sequence[ReceivedEvent]) -> None:
    for _, removed in typed(received, PromptLabelRemoved):
        await tx.repos.remove_label(removed.prompt_id, removed.label)


def prompt_versions_router() -> EventRouter[Transaction[RunRepository]]:
    # Partition order: a label's moves and removals apply in the order they happened.
    return EventRouter(
        {
            PromptVersionCreated: store_versions,
            PromptLabelMoved: move_labels,
            PromptLabelRemoved: remove_labels,
        }
    )
