"""query-api's projection: every event of the three topics, applied in bulk to the read models.

Handlers run inside the consumer's transaction (effects and checkpoint commit together), get
the events of one type that were consecutive in a partition, and write each batch with a few
set-based statements, never one statement per event.
"""

from __future__ import annotations

from promptworks_contracts.events import (
    PromptCreated,
    PromptVersionCreated,
    ResultEvaluated,
    ResultRecorded,
    RunCompleted,
    RunCreated,
    RunEvaluated,
    RunFailed,
    RunStarted,
)
from promptworks_eventkit.router import EventRouter
from query_api.projections import evaluations, prompts, runs

CONSUMER_NAME = "query-api.projections"
MAX_RECORDS = 5000


def build_router() -> EventRouter:
    return EventRouter(
        {
            PromptCreated: prompts.on_prompt_created,
            PromptVersionCreated: prompts.on_version_created,
            RunCreated: runs.on_run_created,
            RunStarted: runs.on_run_started,
            ResultRecorded: runs.on_result_recorded,
            RunCompleted: runs.on_run_completed,
            RunFailed: runs.on_run_failed,
            ResultEvaluated: evaluations.on_result_evaluated,
            RunEvaluated: evaluations.on_run_evaluated,
        }
    )
