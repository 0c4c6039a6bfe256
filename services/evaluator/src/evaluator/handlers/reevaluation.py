"""Re-evaluation: a finished run's recorded results evaluated again with an evaluator version,
without calling its model again. The earlier evaluations are kept.

- ``request`` (the command): resolves the version, refuses a run that is unknown, unfinished, or
  whose results were not kept (evaluated before results were kept), and in ONE transaction
  records the re-evaluation row and appends ``EvaluationRequested`` to the run's evaluation
  stream. The same run and version asked again answers the re-evaluation already recorded:
  nothing is appended, nothing is evaluated twice.
- ``work_once`` (the worker): takes the oldest ``requested`` row (``FOR UPDATE SKIP LOCKED``,
  so replicas share the queue), evaluates every kept result with the pinned assertions (judges
  included), and in the SAME transaction appends the ``ResultEvaluated`` events and the
  ``RunEvaluated`` (all with the ``evaluation_id``) and marks the row ``evaluated``. A crash
  rolls all of it back and the row is taken again: evaluated once in effect.

Everything goes into the run's evaluation stream (stream id = run id), so query-api applies a
run's evaluations in order and "the latest" is the last one.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

import structlog

from evaluator.domain.plan import RunPlan
from evaluator.domain.run_statistics import ResultOutcome
from evaluator.domain.stats import RunStats, summaries
from evaluator.domain.summary import run_statistics
from evaluator.handlers.definitions import DefinitionHandlers
from evaluator.handlers.embeddings import EmbeddingMeter
from evaluator.handlers.evaluation import ask_judges, evaluate_result, measure_embeddings
from evaluator.handlers.judging import JudgeQueue
from evaluator.handlers.ports import RUNNING, EvaluationRepository
from promptworks_contracts.api.evaluators import EvaluatorRefIn
from promptworks_contracts.events import (
    EvaluationRequested,
    ResultEvaluated,
    ResultRecorded,
    RunEvaluated,
)
from promptworks_contracts.values import Assertion, EvaluatorPin
from promptworks_eventkit.errors import ConflictError, NotFoundError
from promptworks_eventkit.messages import MessageContext, Position
from promptworks_eventkit.writing.port import WritePort

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Claimed:
    """A re-evaluation taken by the worker."""

    evaluation_id: UUID
    run_id: str
    assertions: list[Assertion]


class ReevaluationRepository(EvaluationRepository, Protocol):
    async def claim_evaluation(
        self, evaluation_id: UUID, run_id: str, pin: EvaluatorPin, assertions: list[Assertion]
    ) -> UUID | None: ...

    async def count_records(self, run_id: str) -> int: ...

    async def next_requested(self) -> Claimed | None: ...

    async def mark_evaluated(self, evaluation_id: UUID) -> None: ...

    async def load_records(self, run_id: str) -> list[ResultRecorded]: ...


@dataclass(frozen=True)
class ReevaluationAccepted:
    evaluation_id: UUID
    run_id: UUID
    evaluator: EvaluatorPin
    created: bool
    """False: this run was re-evaluated with this version before (the same evaluation)."""
    positions: Sequence[Position]


class Reevaluations:
    def __init__(
        self,
        port: WritePort[ReevaluationRepository],
        definitions: DefinitionHandlers,
        judges: JudgeQueue | None,
        embeddings: EmbeddingMeter | None = None,
    ) -> None:
        self._port = port
        self._definitions = definitions
        self._judges = judges
        self._embeddings = embeddings
        self._wake = asyncio.Event()

    async def run(self, poll_seconds: float = 1.0) -> None:
        """The worker: does requested re-evaluations until cancelled. Woken at once by a
        request in this process; polls for those accepted by other replicas."""
        while True:
            self._wake.clear()  # before looking: a request from now on wakes the wait below
            try:
                if await self.work_once():
                    continue
            except Exception:
                # Rolled back: the row stays requested and is taken again after a pause.
                log.exception("re-evaluation failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll_seconds)

    async def request(
        self, run_id: UUID, ref: EvaluatorRefIn, actor: str, context: MessageContext
    ) -> ReevaluationAccepted:
        number, assertions = await self._definitions.version(
            ref.evaluator_id, None if ref.version == "latest" else ref.version, context
        )
        pin = EvaluatorPin(evaluator_id=ref.evaluator_id, version=number)
        evaluation_id = uuid.uuid4()
        async with self._port.transaction(context) as tx:
            state = (await tx.repos.load_states([str(run_id)], lock=True)).get(str(run_id))
            if state is None:
                raise NotFoundError(f"run {run_id} does not exist", field="run_id")
            if state.status == RUNNING:
                raise ConflictError(
                    f"run {run_id} is not evaluated yet: re-evaluate it once it finished",
                    rule="run_unfinished",
                )
            if await tx.repos.count_records(str(run_id)) < state.evaluated:
                raise ConflictError(
                    f"the results of run {run_id} were not kept (it was evaluated before "
                    "re-evaluation existed): run it again to re-evaluate it",
                    rule="results_not_kept",
                )
            existing = await tx.repos.claim_evaluation(evaluation_id, str(run_id), pin, assertions)
            if existing is None:
                requested = EvaluationRequested(
                    run_id=run_id,
                    evaluation_id=evaluation_id,
                    evaluator=pin,
                    assertions=assertions,
                    actor=actor,
                )
                state.stream_version = await tx.append(
                    str(run_id), [requested], state.stream_version
                )
                await tx.repos.save_states([state])
        self._wake.set()
        return ReevaluationAccepted(
            evaluation_id=existing or evaluation_id,
            run_id=run_id,
            evaluator=pin,
            created=existing is None,
            positions=tx.positions,
        )

    async def work_once(self) -> bool:
        """Does the oldest requested re-evaluation; False when there was none."""
        async with self._port.transaction() as tx:
            claimed = await tx.repos.next_requested()
            if claimed is None:
                return False
            run_id = claimed.run_id
            spec = (await tx.repos.load_specs([run_id]))[run_id]
            records = await tx.repos.load_records(run_id)
            plan = RunPlan.compile(claimed.assertions, spec.cases, spec.expected, spec.project)
            judgements = await ask_judges(
                self._judges, [(plan, r) for r in records], tx.repos, claimed.evaluation_id
            )
            comparisons = await measure_embeddings(
                self._embeddings, [(plan, r) for r in records], claimed.evaluation_id
            )
            stats: RunStats = {}
            events: list[ResultEvaluated] = []
            outcomes: list[ResultOutcome] = []
            for record in records:
                event, outcome = evaluate_result(
                    plan,
                    record,
                    judgements.get(record.result_id),
                    stats,
                    claimed.evaluation_id,
                    comparisons.get(record.result_id),
                )
                events.append(event)
                outcomes.append(outcome)
            summary = RunEvaluated(
                run_id=UUID(run_id),
                evaluation_id=claimed.evaluation_id,
                evaluated=len(events),
                summaries=summaries(plan.metric_names, stats),
                **run_statistics(outcomes, stats, judged=plan.calls_models),
            )
            # Under the run row's lock: the fan-out workers append to the same stream.
            state = (await tx.repos.load_states([run_id], lock=True))[run_id]
            state.stream_version = await tx.append(run_id, [*events, summary], state.stream_version)
            await tx.repos.save_states([state])
            await tx.repos.mark_evaluated(claimed.evaluation_id)
        return True
