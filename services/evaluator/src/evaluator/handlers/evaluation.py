"""The "evaluator.runs" consumer: run events in, evaluation events out, in ONE transaction.

Everything a batch does happens in the write-port transaction the consumer runner binds to the
batch's session (``PostgresWritePort.joined``), together with its offsets: the repository
writes (runs, statistics) and the evaluation events appended with ``tx.append`` (which queues
them in the outbox for the relay). A redelivered batch is skipped by the runner, so produced
events are exactly-once in effect too.

Invariants:
- The evaluation stream of a run (stream id = run id) is appended at the run's stored
  ``stream_version``, and that version moves in the same transaction, so versions are
  contiguous from 1.
- All results of one run within a handler call become ONE append; statistics of the whole
  call become ONE ``add_stats``.
- One ``RunEvaluated`` per run: it is appended when the run leaves ``running``; a later end
  event changes nothing.
- LLM judges are asked before a batch's results are evaluated, all the batch's questions
  concurrently (``JudgeQueue``); a redelivered batch whose transaction rolled back asks again
  (the calls are paid again, the evaluation is recorded once).
- A result, completion or failure of a run whose ``RunCreated`` was not seen raises
  ``UnknownRunError`` (the call writes nothing; the batch's transaction rolls back): the runner
  retries, then dead-letters the event.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterable, Sequence
from uuid import UUID

from evaluator.domain.advice import advice_subject
from evaluator.domain.plan import RunPlan
from evaluator.domain.run_statistics import ResultOutcome
from evaluator.domain.stats import RunStats, accumulate, summaries
from evaluator.domain.summary import run_statistics
from evaluator.handlers.embeddings import EmbeddingMeter
from evaluator.handlers.judging import JudgeQueue
from evaluator.handlers.ports import RUNNING, EvaluationRepository, NewRun, RunSpec, RunState
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
        missing = [run_id for run_id in run_ids if run_id not in self._plans]
        if missing:
            for run_id, spec in (await repository.load_specs(missing)).items():
                self._plans[run_id] = RunPlan.compile(
                    spec.assertions, spec.cases, spec.expected, spec.project
                )
        found = {}
        for run_id in run_ids:
            if run_id in self._plans:
                self._plans.move_to_end(run_id)
                found[run_id] = self._plans[run_id]
        while len(self._plans) > max(self._capacity, len(found)):
            self._plans.popitem(last=False)
        return found


class EvaluationHandlers:
    def __init__(
        self,
        plans: PlanCache | None = None,
        judges: JudgeQueue | None = None,
        embeddings: EmbeddingMeter | None = None,
    ) -> None:
        """``judges`` asks judge models; without one a judge assertion fails ``not judged``;
        ``embeddings`` likewise measures embedding similarities (``not measured``)."""
        self._plans = plans or PlanCache()
        self._judges = judges
        self._embeddings = embeddings

    def router(self) -> EventRouter[Tx]:
        return EventRouter(
            {
                RunCreated: self.on_runs_created,
                ResultRecorded: self.on_results_recorded,
                RunCompleted: self.on_runs_completed,
                RunFailed: self.on_runs_failed,
                RunCancelled: self.on_runs_cancelled,
            }
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

    async def _known(
        self, repository: EvaluationRepository, run_ids: Collection[str]
    ) -> tuple[dict[str, RunState], dict[str, RunPlan]]:
        states = await repository.load_states(run_ids)
        if missing := set(run_ids) - states.keys():
            raise UnknownRunError(missing)
        return states, await self._plans.for_runs(repository, run_ids)

    async def on_results_recorded(self, tx: Tx, received: Sequence[ReceivedEvent]) -> None:
        by_run: dict[str, list[tuple[ReceivedEvent, ResultRecorded]]] = {}
        for item, event in typed(received, ResultRecorded):
            by_run.setdefault(str(event.run_id), []).append((item, event))
        states, plans = await self._known(tx.repos, by_run.keys())
        judgements = await self._ask_judges(tx.repos, plans, by_run)
        comparisons = await measure_embeddings(
            self._embeddings,
            [(plans[run_id], r) for run_id, results in by_run.items() for _, r in results],
        )
        deltas: dict[str, RunStats] = {}
        outcomes: list[ResultOutcome] = []
        for run_id, results in by_run.items():
            plan, state, stats = plans[run_id], states[run_id], deltas.setdefault(run_id, {})
            evaluations: list[ResultEvaluated] = []
            for _, result in results:
                evaluation, outcome = evaluate_result(
                    plan,
                    result,
                    judgements.get(result.result_id),
                    stats,
                    comparisons=comparisons.get(result.result_id),
                )
                evaluations.append(evaluation)
                outcomes.append(outcome)
            # One append for many causes: each event names its result; causation is left out.
            context = MessageContext.caused_by(results[0][0].envelope, causation=False)
            state.stream_version = await tx.append(
                run_id, evaluations, state.stream_version, context=context
            )
            state.evaluated += len(evaluations)
        await tx.repos.save_states(states.values())
        await tx.repos.add_stats(deltas)
        await tx.repos.add_outcomes(outcomes)
        # Kept for re-evaluation: a later evaluation reads the results, never the model.
        await tx.repos.add_records([result for results in by_run.values() for _, result in results])

    async def _ask_judges(
        self,
        repository: EvaluationRepository,
        plans: dict[str, RunPlan],
        by_run: dict[str, list[tuple[ReceivedEvent, ResultRecorded]]],
    ) -> dict[UUID, dict[str, Judgement]]:
        """Every judge question of the batch, asked concurrently: result id -> name -> answer."""
        return await ask_judges(
            self._judges,
            [
                (plans[run_id], result)
                for run_id, results in by_run.items()
                for _, result in results
            ],
            repository,
        )

    async def on_runs_completed(self, tx: Tx, received: Sequence[ReceivedEvent]) -> None:
        await self._summarise(tx, typed(received, RunCompleted))

    async def on_runs_failed(self, tx: Tx, received: Sequence[ReceivedEvent]) -> None:
        await self._summarise(tx, typed(received, RunFailed))

    async def on_runs_cancelled(self, tx: Tx, received: Sequence[ReceivedEvent]) -> None:
        # A cancelled run is summarised over the results it recorded before it stopped.
        await self._summarise(tx, typed(received, RunCancelled))

    async def _summarise(
        self,
        tx: Tx,
        finished: Sequence[tuple[ReceivedEvent, RunCompleted | RunFailed | RunCancelled]],
    ) -> None:
        run_ids = {str(event.run_id) for _, event in finished}
        states, plans = await self._known(tx.repos, run_ids)
        stats = await tx.repos.load_stats(run_ids)
        outcomes = await tx.repos.load_outcomes(run_ids)
        for item, event in finished:
            run_id = str(event.run_id)
            state = states[run_id]
            if state.status != RUNNING:
                continue  # already summarised: one RunEvaluated per run
            state.status = _finished_status(event)
            run_stats = stats.get(run_id, {})
            evaluated = RunEvaluated(
                run_id=event.run_id,
                evaluated=state.evaluated,
                summaries=summaries(plans[run_id].metric_names, run_stats),
                **run_statistics(
                    outcomes.get(run_id, []), run_stats, judged=plans[run_id].calls_models
                ),
            )
            context = MessageContext.caused_by(item.envelope)
            state.stream_version = await tx.append(
                run_id, [evaluated], state.stream_version, context=context
            )
        await tx.repos.save_states(states.values())


async def ask_judges(
    judges: JudgeQueue | None,
    planned: Sequence[tuple[RunPlan, ResultRecorded]],
    repository: EvaluationRepository,
    evaluation_id: UUID | None = None,
) -> dict[UUID, dict[str, Judgement]]:
    """Every judge question of these results, asked concurrently: result id -> name -> answer.
    Without a queue nothing is asked (the judge assertions fail ``not judged``). Idempotent
    (``judging.py``): the keys name the evaluation, the result and the judge; the caller's
    transaction forgets them, so they live exactly as long as they can be needed."""
    asked = [
        (result.result_id, question)
        for plan, result in planned
        for question in plan.judge_questions(result)
    ]
    if not asked or judges is None:
        return {}
    scope = str(evaluation_id or "first")
    keys = [judgement_key(scope, result_id, question[0]) for result_id, question in asked]
    answers = await judges.ask([question for _, question in asked], keys)
    await repository.forget_judgements(keys)
    found: dict[UUID, dict[str, Judgement]] = {}
    for (result_id, _), judgement in zip(asked, answers, strict=True):
        found.setdefault(result_id, {})[judgement.name] = judgement
    return found


async def measure_embeddings(
    meter: EmbeddingMeter | None,
    planned: Sequence[tuple[RunPlan, ResultRecorded]],
    evaluation_id: UUID | None = None,
) -> dict[UUID, dict[str, EmbeddingComparison]]:
    """Every embedding similarity of these results: result id -> name -> comparison. Without a
    meter nothing is measured (the assertions fail ``not measured``)."""
    if meter is None:
        return {}
    questions = [q for plan, result in planned for q in plan.embedding_questions(result)]
    return await meter.measure(questions, str(evaluation_id or "first"))


def judgement_key(scope: str, result_id: UUID, judge: str) -> str:
    """A judge question's idempotency key: the evaluation (``first`` or a re-evaluation's id),
    the result, the judge assertion's name (unique within an evaluation)."""
    return f"{scope}/{result_id}/{judge}"


def evaluate_result(
    plan: RunPlan,
    result: ResultRecorded,
    judgements: dict[str, Judgement] | None,
    stats: RunStats,
    evaluation_id: UUID | None = None,
    comparisons: dict[str, EmbeddingComparison] | None = None,
) -> tuple[ResultEvaluated, ResultOutcome]:
    """One result's evaluation event and stored outcome; its metrics go into ``stats``. The
    judge and embedding calls' spend counts as the evaluation's (``judge_cost``)."""
    judged = plan.judge(result, judgements, comparisons)
    accumulate(stats, judged.metrics)
    evaluation = ResultEvaluated(
        run_id=result.run_id,
        result_id=result.result_id,
        evaluation_id=evaluation_id,
        metrics=judged.metrics,
        passed=judged.passed,
        score=judged.score,
        reasons=judged.reasons,
        parsed_output=judged.parsed_output,
        output_checks=judged.output_checks,
        judgements=judged.judgements,
        embeddings=judged.embeddings,
    )
    spent: list[Judgement | EmbeddingComparison] = [*judged.judgements, *judged.embeddings]
    judge_usage = _usage(j.usage for j in spent)
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
