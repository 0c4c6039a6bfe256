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
from evaluator.handlers.ports import RUNNING, NewRun, RunSpec, RunState
from promptworks_contracts.events import ResultRecorded


@dataclass
class InMemoryEvaluationRepository:
    states: dict[str, RunState] = field(default_factory=dict)
    specs: dict[str, RunSpec] = field(default_factory=dict)
    stats: dict[str, RunStats] = field(default_factory=dict)
    outcomes: dict[str, dict[str, ResultOutcome]] = field(default_factory=dict)
    records: dict[str, dict[str, ResultRecorded]] = field(default_factory=dict)

    async def insert_runs(self, new_runs: Sequence[NewRun]) -> None:
        for run in new_runs:
            if run.run_id not in self.states:
                self.states[run.run_id] = RunState(
                    run.run_id, run.total_calls, evaluated=0, stream_version=0, status=RUNNING
                )
                self.specs[run.run_id] = copy.deepcopy(run.spec)

    async def load_states(self, run_ids: Collection[str]) -> dict[str, RunState]:
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

    async def add_stats(self, deltas: Mapping[str, RunStats]) -> None:
        for run_id, by_name in deltas.items():
            stored = self.stats.setdefault(run_id, {})
            for name, delta in by_name.items():
                if name in stored:
                    stored[name].merge(delta)
                else:
                    stored[name] = replace(delta)

    async def load_stats(self, run_ids: Collection[str]) -> dict[str, RunStats]:
        return {r: copy.deepcopy(self.stats[r]) for r in run_ids if r in self.stats}

    async def add_outcomes(self, outcomes: Sequence[ResultOutcome]) -> None:
        for outcome in outcomes:
            self.outcomes.setdefault(outcome.run_id, {}).setdefault(outcome.result_id, outcome)

    async def load_outcomes(self, run_ids: Collection[str]) -> dict[str, list[ResultOutcome]]:
        return {r: list(self.outcomes[r].values()) for r in run_ids if r in self.outcomes}

    async def add_records(self, records: Sequence[ResultRecorded]) -> None:
        for record in records:
            self.records.setdefault(str(record.run_id), {}).setdefault(
                str(record.result_id), record
            )

    async def forget_judgements(self, keys: Sequence[str]) -> None:
        """Nothing is kept in memory across transactions: nothing to forget."""
