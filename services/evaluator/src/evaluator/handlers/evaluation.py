"""The "evaluator.runs" consumer: run events in, in ONE transaction with its offsets; the
results it queues are evaluated by the workers of every replica (``handlers/worker.py``,
ADR 0022).

Everything a batch does happens in the write-port transaction the consumer runner binds to the
batch's session (``PostgresWritePort.joined``), together with its offsets. A redelivered batch
is skipped by the runner, so what it writes and appends is exactly-once in effect too.

Invariants:
- The runs consumer does what needs the run's order: it stores each run from its
  ``RunCreated`` (before any of its results, which follow on the same partition), keeps and
  queues each result (``recorded`` counts them), and takes the run's end.
- The evaluation stream of a run (stream id = run id) is appended at the run's stored
  ``stream_version`` under the run row's lock, and that version moves in the same
  transaction, so versions are contiguous from 1 whichever replica appends.
- One ``RunEvaluated`` per run, once every queued result is evaluated: the end event
  summarises at once when nothing is left to evaluate, else it waits in ``ending`` and the
  worker whose commit evaluates the last result summarises (both decide under the run row's
  lock, so exactly one of them does). A later end event changes nothing.
- A result, completion or failure of a run whose ``RunCreated`` was not seen raises
  ``UnknownRunError`` (the call writes nothing; the batch's transaction rolls back): the runner
  retries, then dead-letters the event.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import Any, Final
from uuid import UUID

import orjson

from evaluator.domain.advice import advice_subject
from evaluator.domain.metrics import metric_documents
from evaluator.domain.output_checks import checks_document
from evaluator.domain.plan import Evaluation, RunPlan
from evaluator.domain.run_statistics import ResultOutcome
from evaluator.domain.stats import RunStats, accumulate, summaries
from evaluator.domain.summary import run_statistics
from evaluator.handlers.embeddings import EmbeddingMeter
from evaluator.handlers.encoded import EncodedResultEvaluated
from evaluator.handlers.judging import JudgeQueue
from evaluator.handlers.ports import (
    EVALUATED,
    RUNNING,
    EvaluationRepository,
    EvaluationState,
    NewRun,
    Origin,
    Queued,
    RunSpec,
    RunState,
)
from promptworks_contracts.events import (
    ResultEvaluated,
    ResultRecorded,
    RunCancelled,
    RunCompleted,
    RunCreated,
    RunEvaluated,
    RunFailed,
)
from promptworks_contracts.values import EmbeddingComparison, Judgement, Money, TokenUsage
from promptworks_eventkit.messages import MessageContext, ReceivedEvent
from promptworks_eventkit.router import EventRouter, typed
from promptworks_eventkit.writing.port import Transaction

CONSUMER_NAME = "evaluator.runs"

Tx = Transaction[EvaluationRepository]


class UnknownRunError(LookupError):
    def __init__(self, run_ids: Collection[str]) -> None:
        super().__init__(f"unknown run(s), RunCreated not seen: {', '.join(sorted(run_ids))}")


class PlanCache:
    """Compiled plans by run id (least recently used out). Safe to keep across transactions:
    a plan depends only on the run's immutable ``RunCreated``."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._plans: OrderedDict[str, RunPlan] = OrderedDict()

    async def for_runs(
        self, repository: EvaluationRepository, run_ids: Collection[str]
    ) -> dict[str, RunPlan]:
        """The plans of ``run_ids``; ``UnknownRunError`` if a run is not stored."""
        return await self._plans_of(run_ids, repository.load_specs)

    async def for_evaluations(
        self, repository: EvaluationRepository, evaluation_ids: Collection[str]
    ) -> dict[str, RunPlan]:
        """The plans of re-evaluations (their pinned assertions on their runs' cases), by
        evaluation id (never a run's: ids are UUIDs); also immutable once recorded."""
        return await self._plans_of(evaluation_ids, repository.load_evaluation_specs)

    async def _plans_of(
        self,
        keys: Collection[str],
        load: Callable[[Collection[str]], Awaitable[dict[str, RunSpec]]],
    ) -> dict[str, RunPlan]:
        if missing := [key for key in keys if key not in self._plans]:
            for key, spec in (await load(missing)).items():
                self._plans[key] = RunPlan.compile(
                    spec.assertions, spec.cases, spec.expected, spec.project
                )
        found = {}
        for key in keys:
            if key in self._plans:
                self._plans.move_to_end(key)
                found[key] = self._plans[key]
        while len(self._plans) > max(self._capacity, len(found)):
            self._plans.popitem(last=False)
        if unknown := set(keys) - found.keys():
            raise UnknownRunError(unknown)
        return found


class EvaluationHandlers:
    def __init__(self, plans: PlanCache | None = None) -> None:
        """``plans`` may be shared with the process's workers (``handlers/worker.py``)."""
        self._plans = plans or PlanCache()

    def router(self) -> EventRouter[Tx]:
        return EventRouter(
            {
                RunCreated: self.on_runs_created,
                ResultRecorded: self.on_results_recorded,
                RunCompleted: self.on_runs_completed,
                RunFailed: self.on_runs_failed,
                RunCancelled: self.on_runs_cancelled,
            },
            # Each run's order is kept (created, results, end); runs are independent, so a
            # batch's results of many runs are one handler call.
            order="stream",
        )

    async def on_runs_created(self, tx: Tx, received: Sequence[ReceivedEvent]) -> None:
        await tx.repos.insert_runs(
            [
                NewRun(
                    run_id=str(event.run_id),
                    spec=RunSpec(
                        assertions=event.assertions,
                        cases=event.cases,
                        expected=event.expected,
                        project=event.project_id,
                    ),
                    total_calls=event.total_calls,
                    subject=advice_subject(event),
                )
                for _, event in typed(received, RunCreated)
            ]
        )

    async def on_results_recorded(self, tx: Tx, received: Sequence[ReceivedEvent]) -> None:
        """Keeps and queues the results; the workers evaluate them."""
        results = typed(received, ResultRecorded)
        run_ids = {str(event.run_id) for _, event in results}
        if missing := run_ids - (await tx.repos.load_states(run_ids)).keys():
            raise UnknownRunError(missing)
        await tx.repos.queue_results(
            [
                Queued(
                    event,
                    MessageContext.caused_by(item.envelope, causation=False),
                    Origin(
                        str(item.envelope.id),
                        item.partition,
                        item.offset,
                        item.envelope.streamversion,
                    ),
                )
                for item, event in results
            ]
        )

    async def on_runs_completed(self, tx: Tx, received: Sequence[ReceivedEvent]) -> None:
        await self._end(tx, typed(received, RunCompleted))

    async def on_runs_failed(self, tx: Tx, received: Sequence[ReceivedEvent]) -> None:
        await self._end(tx, typed(received, RunFailed))

    async def on_runs_cancelled(self, tx: Tx, received: Sequence[ReceivedEvent]) -> None:
        # A cancelled run is summarised over the results it recorded before it stopped.
        await self._end(tx, typed(received, RunCancelled))

    async def _end(
        self,
        tx: Tx,
        finished: Sequence[tuple[ReceivedEvent, RunCompleted | RunFailed | RunCancelled]],
    ) -> None:
        run_ids = {str(event.run_id) for _, event in finished}
        states = await tx.repos.load_states(run_ids, lock=True)
        if missing := run_ids - states.keys():
            raise UnknownRunError(missing)
        for item, event in finished:
            state = states[str(event.run_id)]
            if state.status != RUNNING or state.ending is not None:
                continue  # ended already: one RunEvaluated per run
            state.ending = _finished_status(event)
            state.end_context = MessageContext.caused_by(item.envelope)
            if state.evaluated >= state.recorded:
                await summarise(tx, self._plans, state)
            # Else the worker that evaluates the run's last result summarises it.
        await tx.repos.save_states(states.values())


async def summarise(tx: Tx, plans: PlanCache, state: RunState) -> None:
    """Appends the run's ``RunEvaluated`` (its stored statistics and outcomes, as this
    transaction sees them) and moves it to its end status. The caller holds the run row's lock
    and saves the state."""
    assert state.ending is not None and state.end_context is not None
    plan = (await plans.for_runs(tx.repos, [state.run_id]))[state.run_id]
    await _append_summary(tx, state, plan, state.run_id, None, state.evaluated, state.end_context)
    state.status, state.ending, state.end_context = state.ending, None, None


async def summarise_evaluation(
    tx: Tx, plans: PlanCache, state: RunState, evaluation: EvaluationState
) -> None:
    """Appends a re-evaluation's ``RunEvaluated`` (its statistics and outcomes, stored under
    its id) and marks it ``evaluated``. The caller holds the run's and the re-evaluation's row
    locks and saves both states."""
    key = evaluation.evaluation_id
    plan = (await plans.for_evaluations(tx.repos, [key]))[key]
    await _append_summary(tx, state, plan, key, UUID(key), evaluation.evaluated, evaluation.context)
    evaluation.status = EVALUATED


async def _append_summary(
    tx: Tx,
    state: RunState,
    plan: RunPlan,
    key: str,
    evaluation_id: UUID | None,
    evaluated: int,
    context: MessageContext,
) -> None:
    """``RunEvaluated`` of the evaluation whose statistics are stored under ``key``."""
    run_stats = (await tx.repos.load_stats([key])).get(key, {})
    outcomes = (await tx.repos.load_outcomes([key])).get(key, [])
    summary = RunEvaluated(
        run_id=UUID(state.run_id),
        evaluation_id=evaluation_id,
        evaluated=evaluated,
        summaries=summaries(plan.metric_names, run_stats),
        **run_statistics(outcomes, run_stats, judged=plan.calls_models),
    )
    state.stream_version = await tx.append(
        state.run_id, [summary], state.stream_version, context=context
    )


Planned = tuple[RunPlan, ResultRecorded, str | None]
"""A result to evaluate: its plan, its record, its re-evaluation's id (None: the first)."""


async def ask_judges(
    judges: JudgeQueue | None,
    planned: Sequence[Planned],
    repository: EvaluationRepository,
) -> dict[tuple[str | None, UUID], dict[str, Judgement]]:
    """Every judge question of these results, asked concurrently: (evaluation id, result id)
    -> name -> answer. Without a queue nothing is asked (the judge assertions fail ``not
    judged``). Idempotent (``judging.py``): the keys name the evaluation, the result and the
    judge; the caller's transaction forgets them, so they live exactly as long as they can be
    needed."""
    asked = [
        ((evaluation_id, result.result_id), question)
        for plan, result, evaluation_id in planned
        for question in plan.judge_questions(result)
    ]
    if not asked or judges is None:
        return {}
    keys = [
        judgement_key(evaluation_id or "first", result_id, question[0])
        for (evaluation_id, result_id), question in asked
    ]
    answers = await judges.ask([question for _, question in asked], keys)
    await repository.forget_judgements(keys)
    found: dict[tuple[str | None, UUID], dict[str, Judgement]] = {}
    for (owner, _), judgement in zip(asked, answers, strict=True):
        found.setdefault(owner, {})[judgement.name] = judgement
    return found


async def measure_embeddings(
    meter: EmbeddingMeter | None, planned: Sequence[Planned]
) -> dict[tuple[str | None, UUID], dict[str, EmbeddingComparison]]:
    """Every embedding similarity of these results: (evaluation id, result id) -> name ->
    comparison. Without a meter nothing is measured (the assertions fail ``not measured``)."""
    if meter is None:
        return {}
    by_scope: dict[str | None, list[Planned]] = {}
    for item in planned:
        by_scope.setdefault(item[2], []).append(item)
    found: dict[tuple[str | None, UUID], dict[str, EmbeddingComparison]] = {}
    for evaluation_id, items in by_scope.items():  # one scope per claim, nearly always
        questions = [q for plan, result, _ in items for q in plan.embedding_questions(result)]
        measured = await meter.measure(questions, evaluation_id or "first")
        found.update(((evaluation_id, r), c) for r, c in measured.items())
    return found


def judgement_key(scope: str, result_id: UUID, judge: str) -> str:
    """A judge question's idempotency key: the evaluation (``first`` or a re-evaluation's id),
    the result, the judge assertion's name (unique within an evaluation)."""
    return f"{scope}/{result_id}/{judge}"


def evaluate_result(
    plan: RunPlan,
    result: ResultRecorded,
    judgements: dict[str, Judgement] | None,
    stats: RunStats | None,
    evaluation_id: UUID | None = None,
    comparisons: dict[str, EmbeddingComparison] | None = None,
) -> tuple[ResultEvaluated, ResultOutcome]:
    """One result's evaluation event and stored outcome; its metrics go into ``stats`` (None:
    the caller adds them up, from ``metric_fields(event)``). The judge and embedding calls'
    spend counts as the evaluation's (``judge_cost``). The event's JSON is made once, from the
    metrics' fields (``encoded.py``)."""
    judged = plan.judge(result, judgements, comparisons)
    metrics = metric_documents(judged.metric_fields)
    if stats is not None:
        accumulate(stats, metrics)
    evaluation = _event(result, evaluation_id, metrics, judged)
    spent: list[Judgement | EmbeddingComparison] = [*judged.judgements, *judged.embeddings]
    judge_usage = _usage(j.usage for j in spent) if spent else _NOTHING_SPENT
    outcome = ResultOutcome(
        run_id=str(result.run_id),
        result_id=str(result.result_id),
        case_index=result.case_index,
        repetition=result.repetition,
        passed=judged.passed,
        latency_ms=result.latency_ms,
        digest=judged.digest,
        cost=result.cost,
        judge_cost=_cost(j.cost for j in spent),
        judge_prompt_tokens=judge_usage.prompt_tokens,
        judge_completion_tokens=judge_usage.completion_tokens,
    )
    return evaluation, outcome


def metric_fields(event: ResultEvaluated) -> list[dict[str, Any]]:
    """The metrics of an event ``evaluate_result`` made, as the fields it encoded (no models)."""
    if isinstance(event, EncodedResultEvaluated):
        return event.metric_documents
    return [metric.model_dump() for metric in event.metrics]


def _event(
    result: ResultRecorded,
    evaluation_id: UUID | None,
    metrics: list[dict[str, Any]],
    judged: Evaluation,
) -> ResultEvaluated:
    document = {
        "metrics": metrics,
        "passed": judged.passed,
        "score": judged.score,
        "reasons": judged.reasons,
        "parsed_output": judged.parsed_output,
        "output_checks": checks_document(judged.output_checks),
        "judgements": judged.judgements,
        "embeddings": judged.embeddings,
    }
    try:
        return EncodedResultEvaluated.encode(
            result.run_id, result.result_id, evaluation_id, document
        )
    except orjson.JSONEncodeError:
        # What orjson refuses and pydantic writes (an integer beyond 64 bits in a JSON
        # output, a lone surrogate): the models, as before.
        return ResultEvaluated(
            run_id=result.run_id,
            result_id=result.result_id,
            evaluation_id=evaluation_id,
            **document,
        )


_NOTHING_SPENT: Final = TokenUsage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
"""A result without judge or embedding calls (most): its usage is not built per result."""


def _finished_status(event: RunCompleted | RunFailed | RunCancelled) -> str:
    if isinstance(event, RunCompleted):
        return event.status
    return "cancelled" if isinstance(event, RunCancelled) else "failed"


def _usage(usages: Iterable[TokenUsage]) -> TokenUsage:
    prompt = completion = 0
    for usage in usages:
        prompt += usage.prompt_tokens
        completion += usage.completion_tokens
    return TokenUsage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _cost(costs: Iterable[Money | None]) -> Money | None:
    """The sum of the judge calls' costs in one currency; None when none had a cost."""
    total: Money | None = None
    for cost in costs:
        if cost is None:
            continue
        if total is None:
            total = cost
        elif cost.currency == total.currency:
            total = Money(amount=total.amount + cost.amount, currency=total.currency)
    return total
