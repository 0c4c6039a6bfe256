"""The evaluation worker: every replica's workers take the results the runs consumer queued
(``claim_queued``: oldest first, ``SKIP LOCKED``, so replicas share one run) and evaluate
them, so a run's per-result work spreads over every evaluator process however its events are
partitioned (ADR 0022).

One claim is one transaction:
1. take up to ``claim_size`` queued results out of the queue (a rollback puts them back);
2. ask their judges (concurrently, idempotently: ``handlers/judging.py``) and evaluate them:
   the CPU-heavy part, while no run row is locked, so replicas evaluate one run in parallel;
3. lock the claimed runs' rows (run id order), append each run's ``ResultEvaluated`` events at
   its stored stream version, add statistics and outcomes, and count them as evaluated;
4. a run that has ended (``ending``) and now has every queued result evaluated is summarised
   here, once: its ``RunEvaluated`` follows its last ``ResultEvaluated``.
A crash anywhere rolls the claim back; another worker (or this one, restarted) takes it again.
A re-evaluation's results are queued the same way (tagged with its id, ``reevaluation.py``) and
taken in the same claims: evaluated with its pinned plan, appended with its id, counted on its
``evaluations`` row (locked after the runs'), and summarised by whoever counts its last one.

A claim that fails is taken again one result at a time, so one result that cannot be
evaluated does not hold back the others; a result that fails ``dead_after`` times alone becomes
a dead letter of the runs consumer (as a failing event did when the consumer evaluated): it
leaves the queue and its run's count, and an operator's replay queues it again. An idle
worker sweeps for runs whose end waits although nothing is left to evaluate (the last result
became a dead letter) and summarises them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from uuid import UUID

import structlog

from evaluator.domain.run_statistics import ResultOutcome
from evaluator.domain.stats import RunStats, accumulate_all
from evaluator.handlers.embeddings import EmbeddingMeter
from evaluator.handlers.evaluation import (
    PlanCache,
    Tx,
    ask_judges,
    evaluate_result,
    measure_embeddings,
    metric_fields,
    summarise,
    summarise_evaluation,
)
from evaluator.handlers.judging import JudgeQueue
from evaluator.handlers.ports import (
    RUNNING,
    EvaluationRepository,
    EvaluationState,
    Queued,
    RecentRecords,
    RunState,
    UnreadableClaim,
)
from promptworks_contracts.events import ResultEvaluated
from promptworks_eventkit.gc_pause import gc_paused
from promptworks_eventkit.writing.port import WritePort

log = structlog.get_logger(__name__)


class EvaluationWorker:
    def __init__(
        self,
        port: WritePort[EvaluationRepository],
        plans: PlanCache,
        judges: JudgeQueue | None = None,
        *,
        embeddings: EmbeddingMeter | None = None,
        recent: RecentRecords | None = None,
        claim_size: int = 500,
        dead_after: int = 3,
        on_evaluated: Callable[[int], None] | None = None,
        transient: Callable[[Exception], bool] = lambda error: False,
    ) -> None:
        """``transient`` tells a failure of the infrastructure (the database is down) from one
        of the claim's results: only the latter count towards a dead letter. ``recent``: the
        records this process's consumer queued, decoded (no second decode of those)."""
        self._port = port
        self._plans = plans
        self._judges = judges
        self._embeddings = embeddings
        self._recent = recent
        self._claim_size = claim_size
        self._dead_after = dead_after
        self._on_evaluated = on_evaluated
        self._transient = transient
        self._careful = 0
        """Claims still to take one result at a time (after a claim failed)."""
        self._claimed: list[int] = []
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Results were queued in this process: look at once."""
        self._wake.set()

    async def run(self, poll_seconds: float = 0.2) -> None:
        """Works until cancelled; woken by this process's consumer, polls for other replicas'."""
        swept = float("-inf")
        while True:
            self._wake.clear()  # before looking: a result queued from now on wakes the wait
            try:
                # The collector paused for the claim, lifted once its objects are freed with
                # work_once's frame (eventkit's gc_pause): ~9 % of the evaluator's CPU otherwise.
                with gc_paused():
                    evaluated = await self.work_once()
                if evaluated:
                    continue
            except Exception as error:  # the claim rolled back: its results are queued again
                await self._failed(error)
                continue
            # Stragglers only (normally the last result's transaction summarises its run): at
            # most once a poll interval, not after every wake-up of a busy queue.
            if time.monotonic() - swept >= poll_seconds:
                swept = time.monotonic()
                try:
                    await self.sweep()
                except Exception:
                    log.exception("summarising ended runs failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll_seconds)

    async def drain(self) -> int:
        """Works until the queue is empty (tests, tools); how many results it evaluated."""
        total = 0
        while evaluated := await self.work_once():
            total += evaluated
        return total

    async def sweep(self, limit: int = 16) -> int:
        """Summarises runs whose end waits, and re-evaluations, with nothing left to evaluate;
        how many."""
        async with self._port.transaction() as tx:
            run_ids = await tx.repos.finished_runs(limit)
            finished = await tx.repos.finished_evaluations(limit)
            if not run_ids and not finished:
                return 0
            # Runs first, then their re-evaluations: the one lock order (a re-evaluation found
            # here may have been summarised meanwhile: ``complete`` is asked again, locked).
            states = await tx.repos.load_states(
                {*run_ids, *(run_id for run_id, _ in finished)}, lock=True
            )
            reevaluations = await tx.repos.load_evaluations([e for _, e in finished])
            await self._summarise_complete(tx, states, reevaluations)
        return len(run_ids) + len(finished)

    async def _summarise_complete(
        self, tx: Tx, states: dict[str, RunState], reevaluations: dict[str, EvaluationState]
    ) -> None:
        """Summarises the ended runs and the re-evaluations with nothing left to evaluate
        (their rows locked by this transaction), and saves them all."""
        for state in states.values():
            if _complete(state):
                await summarise(tx, self._plans, state)
        for reevaluation in reevaluations.values():
            if reevaluation.complete:
                state = states[reevaluation.run_id]
                await summarise_evaluation(tx, self._plans, state, reevaluation)
        await tx.repos.save_states(states.values())
        await tx.repos.save_evaluations(reevaluations.values())

    async def work_once(self) -> int:
        """One claim; how many results it evaluated (0: nothing was queued)."""
        limit = 1 if self._careful else self._claim_size
        self._claimed = []
        async with self._port.transaction() as tx:
            claimed = await tx.repos.claim_queued(limit, self._recent)
            self._claimed = [q.seq for q in claimed]
            if claimed:
                await self._evaluate(tx, claimed)
        self._careful = max(0, self._careful - 1)
        if claimed and self._on_evaluated is not None:
            self._on_evaluated(len(claimed))
        return len(claimed)

    async def _evaluate(self, tx: Tx, claimed: list[Queued]) -> None:
        repository = tx.repos
        # A claim may hold results of several runs and of their re-evaluations: each group is
        # one evaluation (the run's first: None), with its plan and its statistics' key.
        groups: dict[tuple[str, str | None], list[Queued]] = {}
        for queued in claimed:
            groups.setdefault((str(queued.record.run_id), queued.evaluation_id), []).append(queued)
        first = {run_id for run_id, evaluation_id in groups if evaluation_id is None}
        again = {evaluation_id for _, evaluation_id in groups if evaluation_id is not None}
        plans = await self._plans.for_runs(repository, first) if first else {}
        if again:
            plans.update(await self._plans.for_evaluations(repository, again))
        planned = [
            (plans[evaluation_id or run_id], q.record, evaluation_id)
            for (run_id, evaluation_id), items in groups.items()
            for q in items
        ]
        judgements = await ask_judges(self._judges, planned, repository)
        comparisons = await measure_embeddings(self._embeddings, planned)
        deltas: dict[str, RunStats] = {}
        outcomes: list[ResultOutcome] = []
        evaluated: dict[tuple[str, str | None], list[ResultEvaluated]] = {}
        for (run_id, evaluation_id), items in groups.items():
            key = evaluation_id or run_id  # whose statistics (tables.py)
            plan, events = plans[key], []
            scope = None if evaluation_id is None else UUID(evaluation_id)
            for queued in items:
                owner = (evaluation_id, queued.record.result_id)
                event, outcome = evaluate_result(
                    plan,
                    queued.record,
                    judgements.get(owner),
                    None,
                    scope,
                    comparisons.get(owner),
                )
                events.append(event)
                outcomes.append(outcome if evaluation_id is None else replace(outcome, run_id=key))
            accumulate_all(deltas.setdefault(key, {}), [metric_fields(e) for e in events])
            evaluated[run_id, evaluation_id] = events
        # From here on the rows are locked until commit, runs first (run id order), then their
        # re-evaluations (id order): appends, counters, summaries.
        states = await repository.load_states({run_id for run_id, _ in groups}, lock=True)
        reevaluations = await repository.load_evaluations(again) if again else {}
        for (run_id, evaluation_id), events in evaluated.items():
            state = states[run_id]
            # One append for many causes: each event names its result; causation is left out.
            context = groups[run_id, evaluation_id][0].context
            state.stream_version = await tx.append(
                run_id, events, state.stream_version, context=context
            )
            if evaluation_id is None:
                state.evaluated += len(events)
            else:
                reevaluations[evaluation_id].evaluated += len(events)
        await repository.add_stats(deltas)
        await repository.add_outcomes(outcomes)
        await self._summarise_complete(tx, states, reevaluations)

    async def _failed(self, error: Exception) -> None:
        claimed, self._claimed = self._claimed, []
        if isinstance(error, UnreadableClaim):  # failed while claiming: its results
            claimed = error.seqs
        if self._transient(error) or not claimed:
            log.warning("evaluation claim failed; will retry", error=repr(error))
            await asyncio.sleep(1.0)
            return
        if len(claimed) > 1:
            log.warning(
                "evaluation claim failed; taking its results one at a time",
                results=len(claimed),
                error=repr(error),
            )
            self._careful = max(self._careful, len(claimed))
            return
        log.warning("a queued result failed to evaluate", seq=claimed[0], error=repr(error))
        try:
            async with self._port.transaction() as tx:
                dead = await tx.repos.record_failure(claimed[0], repr(error), self._dead_after)
        except Exception:
            log.exception("could not record an evaluation failure")
            dead = False
        if dead:
            log.error("a result was dead-lettered after failing to evaluate", seq=claimed[0])
        await asyncio.sleep(0.2)


def _complete(state: RunState) -> bool:
    """The run has ended and every result it queued is evaluated: time for its summary."""
    return (
        state.status == RUNNING and state.ending is not None and state.evaluated >= state.recorded
    )
