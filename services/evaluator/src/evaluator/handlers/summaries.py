"""A run's current statistics as the evaluator holds them (``GET /runs/{run_id}/summary``, a
debugging aid: clients read evaluations through query-api). Reads through the write port's
repositories in a transaction that writes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from evaluator.domain.plan import metric_names
from evaluator.domain.stats import summaries
from evaluator.handlers.ports import EvaluationRepository, RunState
from promptworks_contracts.values import MetricSummary
from promptworks_eventkit.errors import NotFoundError
from promptworks_eventkit.writing.port import WritePort


@dataclass(frozen=True)
class RunSummary:
    state: RunState
    summaries: list[MetricSummary]
    """One per metric of the run (see ``domain.stats.summaries``)."""


class RunSummaries:
    def __init__(self, port: WritePort[EvaluationRepository]) -> None:
        self._port = port

    async def of_run(self, run_id: str) -> RunSummary:
        async with self._port.transaction() as tx:
            state = (await tx.repos.load_states([run_id])).get(run_id)
            if state is None:
                raise NotFoundError(
                    f"run {run_id} has not been seen by the evaluator", field="run_id"
                )
            spec = (await tx.repos.load_specs([run_id]))[run_id]
            stats = (await tx.repos.load_stats([run_id])).get(run_id, {})
        return RunSummary(state, summaries(metric_names(spec.assertions, spec.expected), stats))
