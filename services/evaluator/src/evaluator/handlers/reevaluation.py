"""Re-evaluation: a finished run's recorded results evaluated again with an evaluator version,
without calling its model again. The earlier evaluations are kept.

- ``request`` (the command): resolves the version, refuses a run that is unknown, unfinished, or
  whose results were not kept (evaluated before results were kept), and in ONE transaction
  records the re-evaluation row (with the request's context) and appends
  ``EvaluationRequested`` to the run's evaluation stream. The same run and version asked again
  answers the re-evaluation already recorded: nothing is appended, nothing is evaluated twice.
- ``work_once`` (the queuer): takes the oldest ``requested`` row of a run with no other
  re-evaluation in progress (one at a time per run, in the order asked) and, under the run
  row's lock, queues every kept result of the run for it in the evaluation queue (ONE
  ``INSERT ... SELECT``: nothing of the run is held in this process) and counts them on the
  row (``queued``). The workers of every replica then evaluate them like a run's first evaluation
  (``handlers/worker.py``, ADR 0022 and its addendum), appending ``ResultEvaluated`` events
  with the ``evaluation_id``; whoever counts the last one appends its ``RunEvaluated`` (a
  run without kept results gets it here at once).

Everything goes into the run's evaluation stream (stream id = run id), so query-api applies a
run's evaluations in order and "the latest" is the last one.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

import structlog

from evaluator.handlers.definitions import DefinitionHandlers
from evaluator.handlers.evaluation import PlanCache, summarise_evaluation
from evaluator.handlers.ports import (
    QUEUED,
    REQUESTED,
    RUNNING,
    EvaluationRepository,
    EvaluationState,
)
from promptworks_contracts.api.evaluators import EvaluatorRefIn
from promptworks_contracts.events import EvaluationRequested
from promptworks_contracts.values import Assertion, EvaluatorPin
from promptworks_eventkit.errors import ConflictError, NotFoundError
from promptworks_eventkit.messages import MessageContext, Position
from promptworks_eventkit.writing.port import WritePort

log = structlog.get_logger(__name__)


class ReevaluationRepository(EvaluationRepository, Protocol):
    async def claim_evaluation(
        self,
        evaluation_id: UUID,
        run_id: str,
        pin: EvaluatorPin,
        assertions: list[Assertion],
        context: MessageContext,
    ) -> UUID | None: ...

    async def count_records(self, run_id: str) -> int: ...

    async def next_requested(self) -> tuple[str, str] | None:
        """(run id, evaluation id) of the oldest re-evaluation not queued yet whose run has
        none queued, not locked."""
        ...

    async def another_queued(self, run_id: str) -> bool:
        """Whether a re-evaluation of this run is queued (being evaluated)."""
        ...

    async def queue_evaluation(self, evaluation: EvaluationState) -> int:
        """Queues every kept result of its run for this re-evaluation (its context on each);
        stores and returns how many (``queued``)."""
        ...


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
        plans: PlanCache,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        """``on_queued``: results were queued (wakes this process's evaluation workers)."""
        self._port = port
        self._definitions = definitions
        self._plans = plans
        self._on_queued = on_queued
        self._wake = asyncio.Event()

    async def run(self, poll_seconds: float = 1.0) -> None:
        """The queuer: queues requested re-evaluations until cancelled. Woken at once by a
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
            existing = await tx.repos.claim_evaluation(
                evaluation_id, str(run_id), pin, assertions, context
            )
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
        """Queues the oldest requested re-evaluation; False when there was none."""
        async with self._port.transaction() as tx:
            found = await tx.repos.next_requested()
            if found is None:
                return False
            run_id, evaluation_id = found
            # The run's row first, then the re-evaluation's: the one lock order (ADR 0022).
            state = (await tx.repos.load_states([run_id], lock=True))[run_id]
            evaluation = (await tx.repos.load_evaluations([evaluation_id]))[evaluation_id]
            # One re-evaluation of a run at a time, in the order asked: their summaries follow
            # each other as the requests did (query-api's "latest" is the last applied).
            if evaluation.status != REQUESTED or await tx.repos.another_queued(run_id):
                return True  # another replica queued it, or another of its run, meanwhile
            evaluation.queued = await tx.repos.queue_evaluation(evaluation)
            evaluation.status = QUEUED
            if evaluation.complete:  # nothing kept to evaluate: summarised at once
                await summarise_evaluation(tx, self._plans, state, evaluation)
                await tx.repos.save_states([state])
            await tx.repos.save_evaluations([evaluation])
        log.info("re-evaluation queued", evaluation_id=evaluation_id, results=evaluation.queued)
        if self._on_queued is not None:
            self._on_queued()
        return True
