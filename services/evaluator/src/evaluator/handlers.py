"""The "evaluator.runs" consumer: run events in, evaluation events out, in ONE transaction.

Everything a batch does happens in the session the consumer runner hands over, together with
its offsets: the ``runs`` / ``run_metric_stats`` rows and the evaluation events appended with
``EventStore.append`` (which queues them in the outbox for the relay). A redelivered batch is
skipped by the runner, so produced events are exactly-once in effect too.

Invariants:
- The evaluation stream of a run (stream id = run id) is appended at ``runs.stream_version``,
  and that column moves in the same transaction, so versions are contiguous from 1.
- All results of one run within a handler call become ONE append; statistics of the whole
  call become ONE upsert.
- A result, completion or failure of a run whose ``RunCreated`` was not seen raises
  ``UnknownRunError``: the runner retries, then dead-letters the event.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from evaluator import repository
from evaluator.domain.plan import RunPlan
from evaluator.domain.stats import RunStats, accumulate, summaries
from evaluator.tables import RUNNING
from promptworks_contracts.events import (
    DomainEvent,
    ResultEvaluated,
    ResultRecorded,
    RunCompleted,
    RunCreated,
    RunEvaluated,
    RunFailed,
)
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.messages import MessageContext, ReceivedEvent
from promptworks_eventkit.router import EventRouter

CONSUMER_NAME = "evaluator.runs"

E = TypeVar("E", bound=DomainEvent)


class UnknownRunError(LookupError):
    def __init__(self, run_ids: Collection[str]) -> None:
        super().__init__(f"unknown run(s), RunCreated not seen: {', '.join(sorted(run_ids))}")


class PlanCache:
    """Compiled plans by run id (least recently used out). Safe to keep across transactions:
    a plan depends only on the run's immutable ``RunCreated``."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._plans: OrderedDict[str, RunPlan] = OrderedDict()

    async def for_runs(self, session: AsyncSession, run_ids: Collection[str]) -> dict[str, RunPlan]:
        missing = [run_id for run_id in run_ids if run_id not in self._plans]
        if missing:
            for run_id, spec in (await repository.load_specs(session, missing)).items():
                self._plans[run_id] = RunPlan.compile(spec.assertions, spec.cases)
        found = {}
        for run_id in run_ids:
            if run_id in self._plans:
                self._plans.move_to_end(run_id)
                found[run_id] = self._plans[run_id]
        while len(self._plans) > max(self._capacity, len(found)):
            self._plans.popitem(last=False)
        return found


def _typed(received: Sequence[ReceivedEvent], model: type[E]) -> list[tuple[ReceivedEvent, E]]:
    pairs = []
    for item in received:
        if not isinstance(item.event, model):
            raise TypeError(f"expected {model.__name__}, got {type(item.event).__name__}")
        pairs.append((item, item.event))
    return pairs


def _context(cause: ReceivedEvent, *, causation: bool) -> MessageContext:
    envelope = cause.envelope
    return MessageContext(
        correlation_id=envelope.correlationid,
        causation_id=str(envelope.id) if causation else None,
        traceparent=envelope.traceparent,
    )


class EvaluationHandlers:
    def __init__(self, store: EventStore, plans: PlanCache | None = None) -> None:
        self._store = store
        self._plans = plans or PlanCache()

    def router(self) -> EventRouter[AsyncSession]:
        return EventRouter(
            {
                RunCreated: self.on_runs_created,
                ResultRecorded: self.on_results_recorded,
                RunCompleted: self.on_runs_finished,
                RunFailed: self.on_runs_finished,
            }
        )

    async def on_runs_created(
        self, session: AsyncSession, received: Sequence[ReceivedEvent]
    ) -> None:
        await repository.insert_runs(
            session,
            [
                {
                    "run_id": str(event.run_id),
                    "assertions": [a.model_dump(mode="json") for a in event.assertions],
                    "cases": event.cases,
                    "total_calls": event.total_calls,
                }
                for _, event in _typed(received, RunCreated)
            ],
        )

    async def _known(
        self, session: AsyncSession, run_ids: Collection[str]
    ) -> tuple[dict[str, repository.RunState], dict[str, RunPlan]]:
        states = await repository.load_states(session, run_ids)
        if missing := set(run_ids) - states.keys():
            raise UnknownRunError(missing)
        return states, await self._plans.for_runs(session, run_ids)

    async def on_results_recorded(
        self, session: AsyncSession, received: Sequence[ReceivedEvent]
    ) -> None:
        by_run: dict[str, list[tuple[ReceivedEvent, ResultRecorded]]] = {}
        for item, event in _typed(received, ResultRecorded):
            by_run.setdefault(str(event.run_id), []).append((item, event))
        states, plans = await self._known(session, by_run.keys())
        deltas: dict[str, RunStats] = {}
        for run_id, results in by_run.items():
            plan, state, stats = plans[run_id], states[run_id], deltas.setdefault(run_id, {})
            evaluations: list[ResultEvaluated] = []
            for _, result in results:
                metrics = plan.evaluate(result)
                accumulate(stats, metrics)
                evaluations.append(
                    ResultEvaluated(
                        run_id=result.run_id, result_id=result.result_id, metrics=metrics
                    )
                )
            # One append for many causes: each event names its result; causation is left out.
            context = _context(results[0][0], causation=False)
            await self._store.append(session, run_id, evaluations, state.stream_version, context)
            state.stream_version += len(evaluations)
            state.evaluated += len(evaluations)
        await repository.save_states(session, states.values())
        await repository.add_stats(session, deltas)

    async def on_runs_finished(
        self, session: AsyncSession, received: Sequence[ReceivedEvent]
    ) -> None:
        finished: list[tuple[ReceivedEvent, RunCompleted | RunFailed]] = []
        for item in received:
            if not isinstance(item.event, RunCompleted | RunFailed):
                raise TypeError(f"expected a run's end, got {type(item.event).__name__}")
            finished.append((item, item.event))
        run_ids = {str(event.run_id) for _, event in finished}
        states, plans = await self._known(session, run_ids)
        stats = await repository.load_stats(session, run_ids)
        for item, event in finished:
            run_id = str(event.run_id)
            state = states[run_id]
            if state.status != RUNNING:
                continue  # already summarised: one RunEvaluated per run
            state.status = event.status if isinstance(event, RunCompleted) else "failed"
            evaluated = RunEvaluated(
                run_id=event.run_id,
                evaluated=state.evaluated,
                summaries=summaries(plans[run_id].metric_names, stats.get(run_id, {})),
            )
            context = _context(item, causation=True)
            await self._store.append(session, run_id, [evaluated], state.stream_version, context)
            state.stream_version += 1
        await repository.save_states(session, states.values())
