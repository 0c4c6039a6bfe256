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
The loop keeps one claim ahead (``_overlapped``): claim N+1 is taken and checked (steps 1-2)
while claim N's writes and commit (3-4) are in PostgreSQL, and N+1 writes once N has ended.
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
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, Final
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
        """The results of ``work_once``'s claim (for its failure)."""
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Results were queued in this process: look at once."""
        self._wake.set()

    async def run(self, poll_seconds: float = 0.2) -> None:
        """Works until cancelled; woken by this process's consumer, polls for other replicas'."""
        swept = float("-inf")
        while True:
            self._wake.clear()  # before looking: a result queued from now on wakes the wait
            if self._careful:  # after a failed claim: one result at a time, one claim at once
                try:
                    # The collector paused for the claim, lifted once its objects are freed
                    # with work_once's frame (eventkit's gc_pause): ~9 % of the CPU otherwise.
                    with gc_paused():
                        evaluated = await self.work_once()
                    if evaluated:
                        continue
                except Exception as error:  # the claim rolled back: its results are queued again
                    await self._failed(error, self._claimed)
                    continue
            elif await self._overlapped():
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

    async def _overlapped(self) -> int:
        """Claims back to back until one finds nothing or one fails; how many results they
        evaluated. Each claim is taken and its checks computed while the previous one's
        writes and commit are in PostgreSQL (one claim ahead, never more): one claim at a
        time, the process waited on those writes with nothing else to run (~0.6 s of a 3.65 s
        bench run; bench/README.md, "overlap"). Each claim is its own transaction, as in
        ``work_once``; their writes are made one at a time, in claim order."""
        total = 0
        writing: _Claim | None = None
        current: _Claim | None = None
        try:
            while True:
                claim = _Claim()
                current = claim
                claim.start(self._claim_paused(claim, self._claim_size, writing))
                await claim.checked.wait()
                if writing is not None:
                    settled = await self._settle(writing)
                    writing = None
                    if settled is None:  # failed: no claim ahead until that is sorted out
                        break
                    total += settled
                if not claim.seqs or claim.done():  # nothing queued, failed, or ended
                    break
                writing, current = claim, None
            return total + (await self._settle(claim) or 0)
        finally:  # cancelled (the process stops): a claim in flight rolls back; ended ones stay
            for left in (writing, current):
                if left is not None:
                    await left.cancel()

    async def _claim_paused(self, claim: _Claim, limit: int, after: _Claim | None) -> int:
        # The collector paused for the claim, lifted once ``_claim``'s frame (its objects) is
        # gone (eventkit's gc_pause); claims overlapping each other share the pause.
        with gc_paused():
            return await self._claim(claim, limit, after)

    async def _settle(self, claim: _Claim) -> int | None:
        """How many results the claim evaluated once it ended; None when it failed (its
        results are queued again and taken as after any failed claim)."""
        try:
            return await claim.result()
        except Exception as error:
            await self._failed(error, claim.seqs)
            return None

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
        claim = _Claim()
        self._claimed = claim.seqs
        evaluated = await self._claim(claim, 1 if self._careful else self._claim_size, None)
        self._careful = max(0, self._careful - 1)
        return evaluated

    async def _claim(self, claim: _Claim, limit: int, after: _Claim | None) -> int:
        """One claim in one transaction: take up to ``limit`` queued results, compute their
        checks, then (once ``after``, the claim before it, has ended) lock, append, count and
        commit. ``claim.checked`` is set once the checks are done, or nothing was queued, or
        it failed before."""
        try:
            async with self._port.transaction() as tx:
                queued = await tx.repos.claim_queued(limit, self._recent)
                claim.seqs.extend(q.seq for q in queued)
                if not queued:
                    return 0
                checked = await self._check(tx, queued)
                claim.checked.set()
                if after is not None:
                    # One writer at a time, in claim order: the run rows' lock would order them
                    # anyway, and this bounds the lookahead to one claim.
                    await after.ended()
                await self._write(tx, checked)
        finally:
            claim.checked.set()
        if self._on_evaluated is not None:
            self._on_evaluated(len(queued))
        return len(queued)

    async def _check(self, tx: Tx, claimed: list[Queued]) -> _Checked:
        """The claim's judges asked and checks computed; no run row is locked yet."""
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
        checked = _Checked(groups, again)
        done = 0
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
                checked.outcomes.append(
                    outcome if evaluation_id is None else replace(outcome, run_id=key)
                )
                done += 1
                if done % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            accumulate_all(checked.deltas.setdefault(key, {}), [metric_fields(e) for e in events])
            checked.events[run_id, evaluation_id] = events
        return checked

    async def _write(self, tx: Tx, checked: _Checked) -> None:
        """The claim's appends, counters, statistics, outcomes and summaries. From here on the
        rows are locked until commit, runs first (run id order), then their re-evaluations
        (id order)."""
        repository, groups, again = tx.repos, checked.groups, checked.again
        states = await repository.load_states({run_id for run_id, _ in groups}, lock=True)
        reevaluations = await repository.load_evaluations(again) if again else {}
        for (run_id, evaluation_id), events in checked.events.items():
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
        # One round trip for the counters, statistics and outcomes; a run to summarise (or a
        # re-evaluation to count) then reads them back and is saved again.
        await repository.save_evaluated(states.values(), checked.deltas, checked.outcomes)
        if reevaluations or any(_complete(state) for state in states.values()):
            await self._summarise_complete(tx, states, reevaluations)

    async def _failed(self, error: Exception, claimed: list[int]) -> None:
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


YIELD_EVERY: Final = 32
"""Results checked between two yields to the event loop (~4 ms of CPU): the previous claim's
writes, and the consumer, get their answers from PostgreSQL promptly, not after a whole claim's
checks (each of a claim's round trips would wait that long)."""


@dataclass
class _Checked:
    """A claim's checks, computed: what its writes need."""

    groups: dict[tuple[str, str | None], list[Queued]]
    again: set[str]
    """The re-evaluations among the groups."""
    events: dict[tuple[str, str | None], list[ResultEvaluated]] = field(default_factory=dict)
    deltas: dict[str, RunStats] = field(default_factory=dict)
    outcomes: list[ResultOutcome] = field(default_factory=list)


class _Claim:
    """One claim of ``EvaluationWorker._overlapped``, run as its own task."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        """Its queued results, once taken (for its failure)."""
        self.checked = asyncio.Event()
        """Set once its checks are computed (or nothing was queued, or it failed)."""
        self._task: asyncio.Task[int] | None = None

    def start(self, work: Coroutine[Any, Any, int]) -> None:
        self._task = asyncio.create_task(work)

    def done(self) -> bool:
        return self._task is not None and self._task.done()

    async def result(self) -> int:
        assert self._task is not None
        return await self._task

    async def ended(self) -> None:
        """Waits until it committed or failed (its failure is for its own ``result``)."""
        assert self._task is not None
        await asyncio.wait([self._task])

    async def cancel(self) -> None:
        """Cancels it if it is still running and waits until it ended (rolled back)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
