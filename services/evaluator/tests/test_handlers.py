"""The "evaluator.runs" consumer's handlers and the evaluation worker on the in-memory write
port and repository: the events they are fed are built here, as the consumer runner would hand
them over. No PostgreSQL, no Kafka: these run with both stopped."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

import pytest
from pydantic import TypeAdapter

from evaluator.adapters.memory import InMemoryEvaluationRepository
from evaluator.handlers.evaluation import EvaluationHandlers, PlanCache, UnknownRunError
from evaluator.handlers.ports import QUEUED, EvaluationRepository, EvaluationState, Queued, RunState
from evaluator.handlers.summaries import RunSummaries
from evaluator.handlers.worker import EvaluationWorker
from promptworks_contracts.events import (
    DomainEvent,
    ResultEvaluated,
    ResultRecorded,
    RunCompleted,
    RunCreated,
    RunEvaluated,
    RunFailed,
)
from promptworks_contracts.values import Assertion, Money
from promptworks_eventkit.errors import NotFoundError
from promptworks_eventkit.messages import MessageContext, Position, ReceivedEvent, StoredEvent
from promptworks_eventkit.router import EventRouter
from promptworks_eventkit.writing.memory import InMemoryWritePort
from promptworks_eventkit.writing.port import Transaction
from services.evaluator.tests.harness import (
    RunStream,
    check_sample_evaluated,
    result,
    run_created,
    sample_run,
)


@dataclass
class Evaluator:
    """The consumer's handlers and a worker as the runtime wires them, on the in-memory write
    port: one transaction per batch and per claim, one plan cache for all of them."""

    port: InMemoryWritePort[InMemoryEvaluationRepository] = field(
        default_factory=lambda: InMemoryWritePort(InMemoryEvaluationRepository(), "/evaluator")
    )
    plans: PlanCache = field(default_factory=PlanCache)
    claim_size: int = 500

    @property
    def router(self) -> EventRouter[Transaction[EvaluationRepository]]:
        return EvaluationHandlers(self.plans).router()

    def worker(self) -> EvaluationWorker:
        return EvaluationWorker(self.port, self.plans, claim_size=self.claim_size)

    async def consume(self, batch: Sequence[ReceivedEvent]) -> list[Position]:
        """Handles one batch, then the worker evaluates what it queued; returns the positions
        of the appends, in order."""
        async with self.port.transaction() as tx:
            await self.router(tx, batch)
        positions = list(tx.positions)
        before = len(self.port.outbox)
        await self.worker().drain()
        return positions + _positions(self.port.outbox[before:])

    def state(self, stream: RunStream) -> RunState:
        return self.port.repos.states[str(stream.run_id)]

    def emitted(self, stream: RunStream) -> list[StoredEvent]:
        return self.port.stream(str(stream.run_id))


def _positions(stored: Sequence[StoredEvent]) -> list[Position]:
    """One position per append (consecutive events of one stream), as ``tx.positions`` has."""
    found: list[Position] = []
    for event in stored:
        position = Position(event.envelope.subject, event.envelope.streamversion)
        if found and found[-1].stream_id == position.stream_id:
            found[-1] = position
        else:
            found.append(position)
    return found


CITY_IS_PARIS = [
    {"type": "json_field", "path": "/city", "op": "eq", "value": "Paris", "name": "paris"},
]


def received(stream: RunStream, *events: DomainEvent) -> list[ReceivedEvent]:
    return [stream.receive(event, offset=stream.version) for event in events]


def simple_run(stream: RunStream, total_calls: int = 1) -> DomainEvent:
    return run_created(
        stream,
        cases=[{"city": "Oslo"}],
        assertions=[{"type": "max_latency_ms", "threshold": 150}],
        total_calls=total_calls,
    )


@pytest.mark.parametrize("batching", ["one batch", "event by event"])
async def test_results_are_evaluated_and_the_run_is_summarised(batching: str) -> None:
    evaluator = Evaluator()
    sample = sample_run()
    events = received(sample.stream, *sample.events)
    batches = [events] if batching == "one batch" else [[event] for event in events]
    for batch in batches:
        await evaluator.consume(batch)

    out = evaluator.emitted(sample.stream)
    check_sample_evaluated(out, sample, completion_id=str(events[-1].envelope.id))
    assert evaluator.port.outbox == out
    run_id = str(sample.stream.run_id)
    assert evaluator.state(sample.stream) == RunState(run_id, 4, 4, 5, "completed", recorded=4)

    summary = await RunSummaries(evaluator.port).of_run(run_id)
    assert summary.state == evaluator.state(sample.stream)
    assert isinstance(out[-1].event, RunEvaluated)
    assert summary.summaries == out[-1].event.summaries


async def test_an_end_seen_before_the_last_result_is_evaluated_waits_for_the_last_worker() -> None:
    """ADR 0022: the runs consumer queues the results and sees the end first; two workers take
    one result per claim in turn, and the one whose claim evaluates the last result appends
    the only summary, caused by the end event."""
    evaluator = Evaluator()
    sample = sample_run()
    events = received(sample.stream, *sample.events)
    async with evaluator.port.transaction() as tx:
        await evaluator.router(tx, events)
    state = evaluator.state(sample.stream)
    assert (state.status, state.ending, state.recorded, state.evaluated) == (
        "running",
        "completed",
        4,
        0,
    )
    assert evaluator.emitted(sample.stream) == []
    first, second = (
        EvaluationWorker(evaluator.port, evaluator.plans, claim_size=1) for _ in range(2)
    )
    taken = [await first.work_once(), await second.work_once(), await first.work_once()]
    assert taken == [1, 1, 1] and evaluator.state(sample.stream).status == "running"
    assert await second.work_once() == 1
    assert await first.work_once() == 0 and await second.work_once() == 0

    check_sample_evaluated(
        evaluator.emitted(sample.stream), sample, completion_id=str(events[-1].envelope.id)
    )
    # A later end (a redelivery the runner did not catch, another end type) adds nothing.
    late = RunFailed(run_id=sample.stream.run_id, reason="late")
    assert await evaluator.consume(received(sample.stream, late)) == []
    assert evaluator.state(sample.stream) == RunState(
        str(sample.stream.run_id), 4, 4, 5, "completed", recorded=4
    )


async def test_a_reevaluation_queued_over_two_workers_is_summarised_once_by_the_last() -> None:
    """ADR 0022's third addendum: a re-evaluation's queued results (tagged with its id) taken
    by two workers in turn, one per claim; its events carry its id and its request's context,
    its statistics are its own, and the worker that counts the last result summarises it."""
    evaluator = Evaluator()
    sample = sample_run()
    await evaluator.consume(received(sample.stream, *sample.events))  # the first evaluation
    run_id = str(sample.stream.run_id)
    repository = evaluator.port.repos
    first_stats = copy.deepcopy(repository.stats[run_id])
    evaluation_id = str(uuid.uuid4())
    spec = repository.specs[run_id]
    repository.evaluation_specs[evaluation_id] = replace(
        spec, assertions=TypeAdapter(list[Assertion]).validate_python(CITY_IS_PARIS)
    )
    asked = MessageContext(correlation_id="asked-again")
    repository.evaluations[evaluation_id] = EvaluationState(
        evaluation_id, run_id, QUEUED, queued=4, evaluated=0, failed=0, context=asked
    )
    for record in repository.records[run_id].values():
        repository.queue.append(Queued(record, asked, None, repository.next_seq, evaluation_id))
        repository.next_seq += 1

    first, second = (
        EvaluationWorker(evaluator.port, evaluator.plans, claim_size=1) for _ in range(2)
    )
    assert [await first.work_once(), await second.work_once(), await first.work_once()] == [1] * 3
    assert evaluator.port.repos.evaluations[evaluation_id].status == QUEUED
    assert len(evaluator.emitted(sample.stream)) == 8  # the first 5, three results
    assert await second.work_once() == 1 and await first.work_once() == 0

    again = evaluator.emitted(sample.stream)[5:]
    assert [e.envelope.streamversion for e in again] == [6, 7, 8, 9, 10]
    assert {e.envelope.correlationid for e in again} == {"asked-again"}
    *results, summary = [e.event for e in again]
    assert all(isinstance(r, ResultEvaluated) for r in results)
    assert {str(r.evaluation_id) for r in results if isinstance(r, ResultEvaluated)} == {
        evaluation_id
    }
    assert isinstance(summary, RunEvaluated) and str(summary.evaluation_id) == evaluation_id
    assert (summary.evaluated, summary.passed) == (4, 1)
    repository = evaluator.port.repos  # each transaction committed a copy
    state = repository.evaluations[evaluation_id]
    assert (state.status, state.evaluated, state.failed) == ("evaluated", 4, 0)
    # The first evaluation's run state and statistics are untouched; the re-evaluation's are
    # kept under its id.
    assert evaluator.state(sample.stream) == RunState(run_id, 4, 4, 10, "completed", recorded=4)
    assert repository.stats[run_id] == first_stats
    assert repository.stats[evaluation_id]["paris"].passed == 1
    assert len(repository.outcomes[evaluation_id]) == 4


async def test_one_append_per_run_per_call_at_contiguous_versions() -> None:
    evaluator = Evaluator()
    a, b = RunStream(), RunStream()
    await evaluator.consume([*received(a, simple_run(a, 3)), *received(b, simple_run(b, 3))])
    interleaved = [
        *received(a, result(a, 0, "x")),
        *received(b, result(b, 0, "x")),
        *received(a, result(a, 0, "y")),
        *received(b, result(b, 0, "y")),
    ]
    positions = await evaluator.consume(interleaved)
    assert positions == [Position(str(a.run_id), 2), Position(str(b.run_id), 2)]
    positions = await evaluator.consume(received(b, result(b, 0, "z")))
    assert positions == [Position(str(b.run_id), 3)]

    assert [e.envelope.streamversion for e in evaluator.emitted(a)] == [1, 2]
    assert [e.envelope.streamversion for e in evaluator.emitted(b)] == [1, 2, 3]
    assert (evaluator.state(a).evaluated, evaluator.state(b).evaluated) == (2, 3)
    assert evaluator.state(b).stream_version == 3
    stats = evaluator.port.repos.stats[str(b.run_id)]
    assert (stats["latency_ms"].count, stats["max_latency_ms_0"].passed) == (3, 3)


async def test_a_run_is_summarised_once_and_later_results_are_still_evaluated() -> None:
    evaluator = Evaluator()
    stream = RunStream()
    failed = RunFailed(run_id=stream.run_id, reason="provider 'x' is not configured")
    completed = RunCompleted(run_id=stream.run_id, status="failed", succeeded=1, failed=0)
    first = received(
        stream, simple_run(stream, 3), result(stream, 0, "Oslo", latency=120.0), failed, completed
    )
    await evaluator.consume(first)
    # Another end, even twice in one call, changes nothing.
    assert await evaluator.consume(received(stream, completed, completed)) == []
    await evaluator.consume(received(stream, result(stream, 0, "late", latency=200.0)))

    out = evaluator.emitted(stream)
    kinds = [ResultEvaluated.event_type, RunEvaluated.event_type, ResultEvaluated.event_type]
    assert [e.envelope.type for e in out] == kinds
    assert [e.envelope.streamversion for e in out] == [1, 2, 3]
    run = out[1].event
    assert isinstance(run, RunEvaluated) and run.evaluated == 1
    assert {s.name: s for s in run.summaries}["max_latency_ms_0"].pass_rate == 1.0
    assert out[1].envelope.causationid == str(first[2].envelope.id)
    assert evaluator.state(stream) == RunState(str(stream.run_id), 3, 2, 3, "failed", recorded=2)


@pytest.mark.parametrize("unknown_event", ["result", "completion", "failure"])
async def test_an_event_of_an_unknown_run_raises_and_the_batch_writes_nothing(
    unknown_event: str,
) -> None:
    evaluator = Evaluator()
    known, unknown = RunStream(), RunStream()
    orphan = {
        "result": result(unknown, 0, "orphan"),
        "completion": RunCompleted(
            run_id=unknown.run_id, status="completed", succeeded=1, failed=0
        ),
        "failure": RunFailed(run_id=unknown.run_id, reason="gone"),
    }[unknown_event]
    batch = [
        *received(known, simple_run(known), result(known, 0, "fine")),
        *received(unknown, orphan),
    ]
    with pytest.raises(UnknownRunError, match=str(unknown.run_id)):
        await evaluator.consume(batch)
    assert evaluator.port.outbox == []
    assert evaluator.port.repos == InMemoryEvaluationRepository()


async def test_correlation_causation_and_trace_come_from_the_causing_event() -> None:
    evaluator = Evaluator()
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    stream = RunStream(traceparent=trace)
    end = RunCompleted(run_id=stream.run_id, status="completed", succeeded=2, failed=0)
    events = received(
        stream, simple_run(stream, 2), result(stream, 0, "a"), result(stream, 0, "b"), end
    )
    await evaluator.consume(events)
    out = evaluator.emitted(stream)
    assert [e.envelope.correlationid for e in out] == [f"corr-{stream.run_id}"] * 3
    assert [e.envelope.traceparent for e in out] == [trace] * 3
    assert [e.envelope.causationid for e in out] == [None, None, str(events[-1].envelope.id)]


async def test_the_summary_of_a_run_never_seen_is_not_found() -> None:
    stream = RunStream()
    with pytest.raises(NotFoundError) as raised:
        await RunSummaries(Evaluator().port).of_run(str(stream.run_id))
    assert raised.value.field == "run_id"


async def test_expected_outputs_and_costs_reach_the_verdicts_and_the_run_statistics() -> None:
    evaluator, stream = Evaluator(), RunStream()
    created = RunCreated.model_validate(
        {
            **run_created(stream, cases=[{}, {}], assertions=[], total_calls=4).model_dump(),
            "assertions": [{"type": "rouge-1", "threshold": 0.8, "name": "overlap"}],
            "expected": ["the cat sat on the mat", {"n": 3}],
            "repetitions": 2,
        }
    )

    def costed(case: int, output: str, repetition: int, amount: str) -> ResultRecorded:
        recorded = result(stream, case, output)
        return recorded.model_copy(
            update={"repetition": repetition, "cost": Money(amount=Decimal(amount))}
        )

    results = [
        costed(0, "the cat sat on the mat", 1, "0.001"),  # ROUGE-1 F = 1
        costed(0, "the cat is on the mat", 2, "0.002"),  # 5/6 = 0.83 >= 0.8
        costed(1, '{"n": 3}', 1, "0.0005"),  # text "{"n":3}" -> tokens n, 3 both sides
        costed(1, '{"n": 4}', 2, "0.0005"),  # n only: F = 1/2 < 0.8
    ]
    done = RunCompleted(run_id=stream.run_id, status="completed", succeeded=4, failed=0)
    await evaluator.consume(received(stream, created, *results, done))

    out = [stored.event for stored in evaluator.emitted(stream)]
    verdicts = [e for e in out if isinstance(e, ResultEvaluated)]
    assert [v.passed for v in verdicts] == [True, True, True, False]
    assert verdicts[3].reasons[0].name == "overlap"
    assert verdicts[3].reasons[0].value == pytest.approx(0.5)
    assert verdicts[3].output_checks is not None
    assert verdicts[3].output_checks.numeric_accuracy == 0.0
    assert verdicts[2].parsed_output == {"n": 3}
    run = out[-1]
    assert isinstance(run, RunEvaluated)
    assert run.cost == Money(amount=Decimal("0.004")) and run.uncosted == 0
    assert run.cases is not None
    assert (run.cases.flaky, run.cases.flaky_cases, run.cases.consistency_score) == (1, [1], 0.5)
    summary = {s.name: s for s in run.summaries}
    assert summary["numeric_accuracy"].mean == 0.5  # case 1: one right, one wrong
    assert summary["overlap"].pass_rate == 0.75
