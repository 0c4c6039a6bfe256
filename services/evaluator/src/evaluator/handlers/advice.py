"""Optimisation advice on a finished run, from a judge model (ADR 0024).

- ``request`` (the command): refuses a run that is unknown (or another project's), not finished,
  or seen before advice existed (its template was not kept), and in ONE transaction records the
  advice row and appends ``AdviceRequested`` (stream = advice id).
  The advice is pinned to one evaluation of the run (``grounding_evaluation``): the one named
  (the run's id for its first evaluation, else a re-evaluation's id; an unknown one is a 422
  ``unknown_evaluation``, an unfinished one a 409 ``evaluation_pending``), by default the
  latest finished one.
- ``work_once`` (the worker): takes the oldest ``requested`` row (``FOR UPDATE SKIP LOCKED``:
  replicas share the queue), grounds the question in the run (``AdviceRepository.grounds``:
  template, model, parameters, the pinned evaluation's summary and failing results), asks the
  judge through run-orchestrator (its limits, retries, pricing), quoting an unusable answer
  back with what was wrong, up to ``max_attempts``; then in the SAME transaction appends
  ``AdviceGiven`` or ``AdviceFailed`` and marks the row. A crash rolls it back and the row is
  taken again (the calls are paid again, the outcome recorded once).
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

from evaluator.domain.advice import (
    AdviceGrounds,
    advice_messages,
    ask_again,
    read_advice,
    response_format,
)
from evaluator.domain.subject import short
from evaluator.handlers.judging import add_cost, add_usage
from evaluator.handlers.ports import RUNNING, CompletionClient, EvaluationRepository
from promptworks_contracts.api.advice import AdviceRequest
from promptworks_contracts.api.completions import CompletionCallRequest, CompletionMessage
from promptworks_contracts.events import AdviceFailed, AdviceGiven, AdviceRequested
from promptworks_contracts.values import ModelParameters, ModelRef, Money, TokenUsage
from promptworks_eventkit.errors import ConflictError, DomainError, NotFoundError
from promptworks_eventkit.messages import MessageContext, Position
from promptworks_eventkit.writing.port import WritePort

log = structlog.get_logger(__name__)

GIVEN = "given"
FAILED = "failed"
EVALUATED = "evaluated"
"""A re-evaluation's status once its results are evaluated (``reevaluation``)."""


@dataclass(frozen=True)
class ClaimedAdvice:
    advice_id: UUID
    run_id: str
    project: str
    model: ModelRef
    focus: str | None
    max_attempts: int
    evaluation_id: UUID | None = None
    """None: advice asked before evaluations were pinned (grounded in the latest)."""


@dataclass(frozen=True)
class RunForAdvice:
    project: str
    status: str
    subject: dict[str, object] | None


class AdviceRepository(EvaluationRepository, Protocol):
    async def run_for_advice(self, run_id: str) -> RunForAdvice | None: ...

    async def add_advice(
        self,
        advice_id: UUID,
        run_id: str,
        project: str,
        request: AdviceRequest,
        evaluation_id: UUID,
    ) -> None: ...

    async def next_advice(self) -> ClaimedAdvice | None: ...

    async def latest_reevaluation(self, run_id: str) -> UUID | None:
        """The run's latest finished re-evaluation; None when it has only its first."""
        ...

    async def reevaluation_status(self, run_id: str, evaluation_id: UUID) -> str | None:
        """That re-evaluation's status; None when the run has no such re-evaluation."""
        ...

    async def grounds(self, run_id: str, evaluation_id: UUID | None = None) -> AdviceGrounds: ...

    async def mark_advice(self, advice_id: UUID, status: str) -> None: ...


@dataclass(frozen=True)
class AdviceAccepted:
    advice_id: UUID
    run_id: UUID
    positions: Sequence[Position]


class Advisor:
    def __init__(self, port: WritePort[AdviceRepository], client: CompletionClient) -> None:
        self._port = port
        self._client = client
        self._wake = asyncio.Event()

    async def run(self, poll_seconds: float = 1.0) -> None:
        """The worker: gives requested advice until cancelled; woken by a request here, polls
        for those accepted by other replicas."""
        while True:
            self._wake.clear()
            try:
                if await self.work_once():
                    continue
            except Exception:
                log.exception("advice failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll_seconds)

    async def request(
        self, run_id: UUID, body: AdviceRequest, actor: str, context: MessageContext
    ) -> AdviceAccepted:
        advice_id = uuid.uuid4()
        async with self._port.transaction(context) as tx:
            run = await tx.repos.run_for_advice(str(run_id))
            if run is None or run.project != context.project:
                raise NotFoundError(f"run {run_id} does not exist", field="run_id")
            if run.status == RUNNING:
                raise ConflictError(
                    f"run {run_id} is not evaluated yet: ask for advice once it finished",
                    rule="run_unfinished",
                )
            if run.subject is None:
                raise ConflictError(
                    f"run {run_id} was evaluated before advice existed (its template was not "
                    "kept): run it again to get advice on it",
                    rule="run_predates_advice",
                )
            evaluation_id = await grounding_evaluation(tx.repos, run_id, body.evaluation_id)
            subject = run.subject
            prompt_id = subject.get("prompt_id")
            number = subject.get("prompt_version_number")
            await tx.repos.add_advice(advice_id, str(run_id), run.project, body, evaluation_id)
            await tx.append(
                str(advice_id),
                [
                    AdviceRequested(
                        advice_id=advice_id,
                        run_id=run_id,
                        model=ModelRef(provider=body.provider, name=body.model),
                        focus=body.focus,
                        prompt_id=UUID(str(prompt_id)) if prompt_id else None,
                        prompt_version_number=int(str(number)) if number else None,
                        actor=actor,
                        evaluation_id=evaluation_id,
                    )
                ],
                0,
            )
        self._wake.set()
        return AdviceAccepted(advice_id=advice_id, run_id=run_id, positions=tx.positions)

    async def work_once(self) -> bool:
        """Gives the oldest requested advice; False when there was none."""
        async with self._port.transaction() as tx:
            claimed = await tx.repos.next_advice()
            if claimed is None:
                return False
            grounds = await tx.repos.grounds(claimed.run_id, claimed.evaluation_id)
            outcome = await ask_for_advice(self._client, claimed, grounds)
            status = GIVEN if isinstance(outcome, AdviceGiven) else FAILED
            # The outcome's envelope names the advice's project, as its request's did.
            context = MessageContext(project=claimed.project)
            await tx.append(str(claimed.advice_id), [outcome], 1, context=context)
            await tx.repos.mark_advice(claimed.advice_id, status)
        return True


async def grounding_evaluation(repos: AdviceRepository, run_id: UUID, wanted: UUID | None) -> UUID:
    """The evaluation advice on ``run_id`` is grounded in: ``wanted`` (the run's id names its
    first evaluation), else the latest finished one."""
    if wanted is None:
        return await repos.latest_reevaluation(str(run_id)) or run_id
    if wanted == run_id:
        return run_id
    status = await repos.reevaluation_status(str(run_id), wanted)
    if status is None:
        raise DomainError(
            f"run {run_id} has no evaluation {wanted}",
            field="evaluation_id",
            rule="unknown_evaluation",
        )
    if status != EVALUATED:
        raise ConflictError(
            f"evaluation {wanted} of run {run_id} is not finished: ask once it is",
            field="evaluation_id",
            rule="evaluation_pending",
        )
    return wanted


async def ask_for_advice(
    client: CompletionClient, claimed: ClaimedAdvice, grounds: AdviceGrounds
) -> AdviceGiven | AdviceFailed:
    """The bounded ask-again loop: advice, or a failure (never unusable text as advice)."""
    messages = advice_messages(grounds, claimed.focus)
    ids = {"advice_id": claimed.advice_id, "run_id": UUID(claimed.run_id)}
    usage, cost, priced = TokenUsage(), None, True
    problem = "not asked"
    for attempt in range(1, claimed.max_attempts + 1):
        answer = await client.complete(
            CompletionCallRequest(
                provider=claimed.model.provider,
                model=claimed.model.name,
                messages=messages,
                parameters=ModelParameters(temperature=0.2, max_tokens=4000),
                response_format=response_format(grounds.kind),
                purpose="advice",
            ),
            claimed.project,
        )
        usage = add_usage(usage, answer.usage)
        if answer.error is not None:
            return AdviceFailed(
                **ids,
                error=short(f"advice call failed: {answer.error}", 2000),
                attempts=attempt,
                usage=usage,
                cost=_priced(cost, priced),
            )
        if answer.cost is None:
            priced = False
        else:
            cost = add_cost(cost, answer.cost)
        advice, found = read_advice(answer.output or "", grounds)
        if advice is not None:
            return AdviceGiven(
                **ids, advice=advice, attempts=attempt, usage=usage, cost=_priced(cost, priced)
            )
        problem = found or "unusable"
        messages = [
            *messages,
            CompletionMessage(role="assistant", content=short(answer.output or "", 8000)),
            CompletionMessage(role="user", content=ask_again(problem)),
        ]
    return AdviceFailed(
        **ids,
        error=short(f"no usable advice in {claimed.max_attempts} attempt(s): {problem}", 2000),
        attempts=claimed.max_attempts,
        usage=usage,
        cost=_priced(cost, priced),
    )


def _priced(cost: Money | None, priced: bool) -> Money | None:
    return cost if priced else None
