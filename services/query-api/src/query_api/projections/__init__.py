"""query-api's projection: every event of the three topics, applied in bulk to the read models.

Handlers run inside the consumer's transaction (effects and checkpoint commit together), get
the events of one type (in each stream's order: eventkit's EventRouter with order="stream")
and write each batch with a few set-based statements, never one statement per event. Every
prompt-stream handler is wrapped by ``history.with_history`` (history rows); after a batch's
handlers the router renders the stored prompt documents it touched (``prompt_documents``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import (
    AdviceFailed,
    AdviceGiven,
    AdviceRequested,
    BatchCreated,
    EvaluationRequested,
    EvaluatorCreated,
    EvaluatorVersionCreated,
    PromptArchived,
    PromptClassCreated,
    PromptClassDeleted,
    PromptClassUpdated,
    PromptCreated,
    PromptCurrentVersionSet,
    PromptLabelMoved,
    PromptLabelRemoved,
    PromptMetadataEdited,
    PromptRestored,
    PromptTagCreated,
    PromptTagDeleted,
    PromptTagUpdated,
    PromptVersionCreated,
    QuickTestCompleted,
    ResultEvaluated,
    ResultRecorded,
    RunCancelled,
    RunCompleted,
    RunCreated,
    RunEvaluated,
    RunFailed,
    RunStarted,
)
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import EventRouter
from query_api.projections import (
    advice,
    batches,
    catalog,
    evaluations,
    evaluators,
    prompt_state,
    prompts,
    quick_tests,
    runs,
)
from query_api.projections.changes import announce
from query_api.projections.history import with_history
from query_api.projections.prompt_documents import before_handlers, render_batch, touched

CONSUMER_NAME = "query-api.projections"
MAX_RECORDS = 2000
"""A batch's cap. Its decoded events, rows and JSON stay alive until it commits (~25 KB an
event, the collector paused, ``gc_pause``): 5,000 held ~130 MB at a backlog's peak, and the
process stays at its high-water mark. Per-batch statements amortise well before 2,000."""
RANDOM_PAGE_COST = "1.1"
"""The planner's cost of a random page read, for the projection's transactions only.

The handlers look rows up by key for a batch at a time (``= ANY(:ids)``: metrics, verdicts,
runs, positions). With PostgreSQL's default (4, a spinning disk's) the planner prefers a
sequential scan of a table of tens of thousands of rows to a few hundred index probes: 25 ms
instead of 1.2 ms per lookup, several per batch, growing with the table. 1.1 is the usual
value for SSDs and a cached working set; set with ``SET LOCAL``, so the API's reads keep the
database's own setting."""


TRANSACTION_SETTINGS = {"random_page_cost": RANDOM_PAGE_COST}
"""The projection's transaction settings, for a consumer runner that sets them itself
(``ConsumerRunner(transaction_settings=...)``, with its bookkeeping statement: no round trip
of their own); ``build_router(set_page_cost=False)`` then leaves them to it."""


class ProjectionRouter(EventRouter[AsyncSession]):
    """The event router; after the handlers, the stored prompt documents the batch touched are
    rendered again (``prompt_documents.render_batch``). A batch with class or tag events, or
    edits that may drop words, takes the render lock exclusively before its handlers.
    ``set_page_cost``: each transaction is first told the planner's page cost;
    ``announce_changes``: last, it names the projects it changed (``changes.announce``)."""

    def __init__(
        self,
        *args: Any,
        set_page_cost: bool,
        render_documents: bool = True,
        announce_changes: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._set_page_cost = set_page_cost
        self._render_documents = render_documents
        self._announce_changes = announce_changes

    async def __call__(self, work: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
        if self._set_page_cost:
            await work.execute(
                text("SELECT set_config('random_page_cost', :cost, true)"),
                {"cost": RANDOM_PAGE_COST},
            )
        if not self._render_documents:
            await super().__call__(work, events)
        else:
            documents = touched(events)
            await before_handlers(work, documents)
            await super().__call__(work, events)
            await render_batch(work, documents)
        if self._announce_changes:
            await announce(work, events)


def build_router(
    set_page_cost: bool = True,
    results_stored: bool = True,
    render_documents: bool = True,
    announce_changes: bool = False,
) -> EventRouter[AsyncSession]:
    """``set_page_cost``: the router sets ``TRANSACTION_SETTINGS`` in each transaction; the
    live consumer's runner sets them instead (one statement fewer per batch).
    The rebuild's replay proper (a single writer of a fresh schema) passes the others:
    ``results_stored=False`` for a stretch in which no result of the evaluated runs is stored
    yet (the run topic replayed after the others): evaluations are not spliced into
    documents that do not exist; ``render_documents=False``: the prompt documents and the
    search lexicon are left to ``prompt_documents.render_all`` after the replay (each prompt
    rendered once, not once per batch that touched it). ``announce_changes``: the live
    projection's (query-api's workers), whose batches change the models the page caches keep;
    a rebuild writes a schema nobody reads until its switch, which announces itself."""
    return ProjectionRouter(
        {
            PromptCreated: with_history(prompts.on_prompt_created),
            PromptVersionCreated: with_history(prompts.on_version_created),
            PromptMetadataEdited: with_history(prompts.on_metadata_edited),
            PromptLabelMoved: with_history(prompt_state.on_label_moved),
            PromptLabelRemoved: with_history(prompt_state.on_label_removed),
            PromptCurrentVersionSet: with_history(prompt_state.on_current_version_set),
            PromptArchived: with_history(prompt_state.on_archived_or_restored),
            PromptRestored: with_history(prompt_state.on_archived_or_restored),
            PromptClassCreated: catalog.on_created,
            PromptClassUpdated: catalog.on_updated,
            PromptClassDeleted: catalog.on_class_deleted,
            PromptTagCreated: catalog.on_created,
            PromptTagUpdated: catalog.on_updated,
            PromptTagDeleted: catalog.on_tag_deleted,
            RunCreated: runs.on_run_created,
            RunStarted: runs.on_run_started,
            ResultRecorded: runs.on_result_recorded,
            RunCompleted: runs.on_run_completed,
            RunFailed: runs.on_run_failed,
            RunCancelled: runs.on_run_cancelled,
            BatchCreated: batches.on_batch_created,
            ResultEvaluated: evaluations.on_result_evaluated
            if results_stored
            else evaluations.on_result_evaluated_before_results,
            RunEvaluated: evaluations.on_run_evaluated,
            EvaluationRequested: evaluations.on_evaluation_requested,
            EvaluatorCreated: evaluators.on_evaluator_created,
            EvaluatorVersionCreated: evaluators.on_version_created,
            AdviceRequested: advice.on_advice_requested,
            AdviceGiven: advice.on_advice_given,
            AdviceFailed: advice.on_advice_failed,
            QuickTestCompleted: quick_tests.on_quick_test_completed,
        },
        order="stream",  # read models join at read time: only stream order matters
        set_page_cost=set_page_cost,
        render_documents=render_documents,
        announce_changes=announce_changes,
    )
