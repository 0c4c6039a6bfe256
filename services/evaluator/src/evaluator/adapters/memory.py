"""``EvaluationRepository`` in memory, for handler tests without PostgreSQL: plain data (the
in-memory write port deep-copies it per transaction), with the semantics of the PostgreSQL one
(an inserted run keeps an existing one, states saved only for stored runs, statistics merged with
min/max ignoring missing values, loaded rows are copies)."""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from evaluator.domain.run_statistics import ResultOutcome
from evaluator.domain.stats import RunStats
from evaluator.handlers.ports import (
    QUEUED,
    RUNNING,
    EvaluationState,
    NewRun,
    Queued,
    RecentRecords,
    RunSpec,
    RunState,
)
from promptworks_contracts.events import ResultRecorded


@dataclass
class InMemoryEvaluationRepository:
    states: dict[str, RunState] = field(default_factory=dict)
    specs: dict[str, RunSpec] = field(default_factory=dict)
    stats: dict[str, RunStats] = field(default_factory=dict)
    outcomes: dict[str, dict[str, ResultOutcome]] = field(default_factory=dict)
    records: dict[str, dict[str, ResultRecorded]] = field(default_factory=dict)
    queue: list[Queued] = field(default_factory=list)
    attempts: dict[int, int] = field(default_factory=dict)
    """Queued result seq -> failed attempts."""
    dead: list[tuple[Queued, str]] = field(default_factory=list)
    """Results given up on, with the error (the PostgreSQL one makes dead letters of them)."""
    next_seq: int = 1
    evaluations: dict[str, EvaluationState] = field(default_factory=dict)
    """Re-evaluations (the PostgreSQL one also keeps their assertions: ``evaluation_specs``)."""
    evaluation_specs: dict[str, RunSpec] = field(default_factory=dict)

    async def insert_runs(self, new_runs: Sequence[NewRun]) -> None:
        for run in new_runs:
            if run.run_id not in self.states:
                self.states[run.run_id] = RunState(
                    run.run_id, run.total_calls, evaluated=0, stream_version=0, status=RUNNING
                )
                self.specs[run.run_id] = copy.deepcopy(run.spec)

    async def load_states(
        self, run_ids: Collection[str], *, lock: bool = False
    ) -> dict[str, RunState]:
        # The in-memory port runs one transaction at a time: nothing to lock.
        return {r: replace(self.states[r]) for r in run_ids if r in self.states}

    async def load_specs(self, run_ids: Collection[str]) -> dict[str, RunSpec]:
        return {r: copy.deepcopy(self.specs[r]) for r in run_ids if r in self.specs}

    async def save_states(self, states: Iterable[RunState]) -> None:
        for state in states:
            stored = self.states.get(state.run_id)
            if stored is not None:
                stored.evaluated = state.evaluated
                stored.stream_version = state.stream_version
                stored.status = state.status
                stored.ending = state.ending
                stored.end_context = state.end_context

    async def save_evaluated(
        self,
        states: Iterable[RunState],
        deltas: Mapping[str, RunStats],
        outcomes: Sequence[ResultOutcome],
    ) -> None:
        await self.save_states(states)
        for run_id, by_name in deltas.items():
            stored = self.stats.setdefault(run_id, {})
            for name, delta in by_name.items():
                if name in stored:
                    stored[name].merge(delta)
                else:
                    stored[name] = replace(delta)
        for outcome in outcomes:
            self.outcomes.setdefault(outcome.run_id, {}).setdefault(outcome.result_id, outcome)

    async def load_stats(self, run_ids: Collection[str]) -> dict[str, RunStats]:
        return {r: copy.deepcopy(self.stats[r]) for r in run_ids if r in self.stats}

    async def load_outcomes(self, run_ids: Collection[str]) -> dict[str, list[ResultOutcome]]:
        return {r: list(self.outcomes[r].values()) for r in run_ids if r in self.outcomes}

    async def queue_results(self, queued: Sequence[Queued]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in queued:
            run_id, result_id = str(item.record.run_id), str(item.record.result_id)
            kept = self.records.setdefault(run_id, {})
            if result_id in kept:
                continue
            kept[result_id] = item.record
            self.queue.append(replace(item, seq=self.next_seq))
            self.next_seq += 1
            counts[run_id] = counts.get(run_id, 0) + 1
        for run_id, count in counts.items():
            if run_id in self.states:
                self.states[run_id].recorded += count
        return counts

    async def claim_queued(self, limit: int, recent: RecentRecords | None = None) -> list[Queued]:
        taken, self.queue = self.queue[:limit], self.queue[limit:]
        if recent is not None:  # kept as objects here: nothing to decode, nothing to keep
            for queued in taken:
                recent.take(str(queued.record.result_id))
        return taken

    async def record_failure(self, seq: int, error: str, dead_after: int) -> bool:
        self.attempts[seq] = self.attempts.get(seq, 0) + 1
        found = [q for q in self.queue if q.seq == seq]
        if not found or self.attempts[seq] < dead_after:
            return False
        queued = found[0]
        run_id = str(queued.record.run_id)
        self.queue.remove(queued)
        self.dead.append((queued, error))
        if queued.evaluation_id is not None:  # leaves the re-evaluation, kept for the run
            self.evaluations[queued.evaluation_id].failed += 1
            return True
        del self.records[run_id][str(queued.record.result_id)]
        self.states[run_id].recorded -= 1
        return True

    async def finished_runs(self, limit: int) -> list[str]:
        return sorted(
            run_id
            for run_id, s in self.states.items()
            if s.ending is not None and s.status == RUNNING and s.evaluated >= s.recorded
        )[:limit]

    async def forget_judgements(self, keys: Sequence[str]) -> None:
        """Nothing is kept in memory across transactions: nothing to forget."""

    async def load_evaluations(self, evaluation_ids: Collection[str]) -> dict[str, EvaluationState]:
        return {e: replace(self.evaluations[e]) for e in evaluation_ids if e in self.evaluations}

    async def save_evaluations(self, states: Iterable[EvaluationState]) -> None:
        for state in states:
            stored = self.evaluations[state.evaluation_id]
            stored.status, stored.evaluated, stored.failed = (
                state.status,
                state.evaluated,
                state.failed,
            )

    async def load_evaluation_specs(self, evaluation_ids: Collection[str]) -> dict[str, RunSpec]:
        specs = self.evaluation_specs
        return {e: copy.deepcopy(specs[e]) for e in evaluation_ids if e in specs}

    async def finished_evaluations(self, limit: int) -> list[tuple[str, str]]:
        return sorted(
            (e.run_id, e.evaluation_id)
            for e in self.evaluations.values()
            if e.status == QUEUED and e.complete
        )[:limit]
