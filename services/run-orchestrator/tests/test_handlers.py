"""run-orchestrator's handlers and executor on the in-memory write port and repository: no
PostgreSQL, no Kafka (these pass with both stopped). The consumer is fed events as the consumer
runner hands them over; runs execute on the built-in mock provider."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from promptworks_contracts.events import (
    DomainEvent,
    PromptVersionCreated,
    ResultRecorded,
    RunCompleted,
    RunCreated,
    RunFailed,
    RunStarted,
)
from promptworks_contracts.topics import PROMPT_EVENTS
from promptworks_contracts.values import ModelRef, Money, TextTemplate, VariableSpec
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.messages import MessageContext, Position, ReceivedEvent, StoredEvent
from promptworks_eventkit.writing.memory import InMemoryWritePort
from run_orchestrator.adapters.memory import (
    InMemoryRateLimitStore,
    InMemoryRunLocks,
    InMemoryRunRepository,
)
from run_orchestrator.domain.cases import Case
from run_orchestrator.domain.commands import MAX_CALLS, CreateRun, VersionSelector
from run_orchestrator.execution.calls import ProviderCalls
from run_orchestrator.execution.limits import RateLimiterUnavailableError, SharedRateLimiter
from run_orchestrator.execution.runner import RunExecution
from run_orchestrator.execution.scheduler import Executor
from run_orchestrator.execution.state import append_lifecycle, load_run
from run_orchestrator.handlers.commands import RunAccepted, RunCommands
from run_orchestrator.handlers.ports import RunRow
from run_orchestrator.handlers.prompt_versions import prompt_versions_router
from run_orchestrator.providers.base import Completion, CompletionRequest, ModelProvider
from run_orchestrator.providers.mock import MockProvider
from run_orchestrator.providers.registry import ProviderRegistry
from run_orchestrator.settings import RunOrchestratorSettings
from tests.support.kafka import envelope_for

FREE = Money(amount=Decimal(0))


class ByName:
    """Providers by name in every project (what the executor asks of the registry)."""

    def __init__(self, providers: dict[str, ModelProvider]) -> None:
        self._providers = providers

    def get(self, project: str, name: str) -> ModelProvider | None:
        return self._providers.get(name)


SETTINGS = RunOrchestratorSettings(flush_size=2, flush_interval_ms=5, poll_interval_seconds=0.05)
CONTEXT = MessageContext(correlation_id="corr-42", causation_id="corr-42", traceparent="00-ab")


def version_created(text: str = "Hello {{ name }}", number: int = 1) -> PromptVersionCreated:
    return PromptVersionCreated(
        prompt_id=uuid.uuid4(),
        version_id=uuid.uuid4(),
        number=number,
        template=TextTemplate(text=text),
        variables=[VariableSpec(name="name")],
    )


def received(events: Sequence[DomainEvent]) -> list[ReceivedEvent]:
    """The events as the consumer runner hands them to the router."""
    return [
        ReceivedEvent(PROMPT_EVENTS, 0, offset, envelope_for(event, 2), event)
        for offset, event in enumerate(events)
    ]


def create_run(
    version_id: uuid.UUID, names: Sequence[str] = ("Ann", "Bo", "Cy"), **changes: Any
) -> CreateRun:
    return CreateRun(
        version=VersionSelector(prompt_version_id=version_id),
        model=ModelRef(provider=changes.pop("provider", "mock"), name="echo"),
        cases=[Case(variables={"name": name}) for name in names],
        **changes,
    )


@dataclass
class RecordingRepository(InMemoryRunRepository):
    """The in-memory repository, also keeping the size of every recorded batch."""

    batches: list[int] = field(default_factory=list)

    async def record_results(self, run_id: uuid.UUID, results: Sequence[ResultRecorded]) -> None:
        await super().record_results(run_id, results)
        self.batches.append(len(results))


class CountingProvider:
    """The mock, counting which (case, repetition) pairs it was called for."""

    kind = "mock"
    max_concurrency: int | None = 4

    def __init__(self) -> None:
        self.calls: Counter[tuple[int, int]] = Counter()
        self._mock = MockProvider()

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls[(request.case_index, request.repetition)] += 1
        return await self._mock.complete(request)

    async def aclose(self) -> None:
        return None


@dataclass
class Orchestrator:
    """The command handler, the consumer and the executor wired as app.py wires them, on the
    in-memory write port."""

    port: InMemoryWritePort[RecordingRepository] = field(
        default_factory=lambda: InMemoryWritePort(RecordingRepository(), "/run-orchestrator")
    )
    prompt_wait_seconds: float = 0.0
    created: int = 0
    settings: RunOrchestratorSettings = field(default_factory=lambda: SETTINGS)

    @property
    def commands(self) -> RunCommands:
        return RunCommands(
            self.port,
            ProviderRegistry(self.settings),
            prompt_wait_seconds=self.prompt_wait_seconds,
            on_run_created=self._count_created,
        )

    def _count_created(self) -> None:
        self.created += 1

    async def consume(self, events: Sequence[DomainEvent]) -> None:
        """One consumer batch: one transaction, as the runner's session."""
        async with self.port.transaction() as tx:
            await prompt_versions_router()(tx, received(events))

    async def version(self) -> PromptVersionCreated:
        event = version_created()
        await self.consume([event])
        return event

    async def execute(self, run_id: uuid.UUID, provider: ModelProvider | None = None) -> None:
        providers = ByName({"mock": provider or MockProvider()})
        await RunExecution(self.port, providers, self.settings).execute(run_id)

    def stream(self, run_id: uuid.UUID) -> list[StoredEvent]:
        return self.port.stream(str(run_id))

    def run(self, run_id: uuid.UUID) -> RunRow:
        return self.port.repos.runs[run_id]


def kinds(stored: Sequence[StoredEvent]) -> list[str]:
    return [s.envelope.type.split(".")[2] for s in stored]


def results_of(stored: Sequence[StoredEvent]) -> list[ResultRecorded]:
    return [s.event for s in stored if isinstance(s.event, ResultRecorded)]


# --- the prompt-version copy (consumer) -----------------------------------------------------


async def test_the_consumer_copies_versions_and_keeps_the_first_copy() -> None:
    orchestrator = Orchestrator()
    first, second = version_created("Hi {{ name }}"), version_created("Yo {{ name }}", number=2)
    await orchestrator.consume([first, second])
    again = first.model_copy(update={"template": TextTemplate(text="changed")})
    await orchestrator.consume([again])

    copy = orchestrator.port.repos.versions
    assert set(copy) == {first.version_id, second.version_id}
    stored = copy[first.version_id]
    assert (stored.prompt_id, stored.number) == (first.prompt_id, 1)
    assert stored.template == TextTemplate(text="Hi {{ name }}")  # versions are immutable
    assert [v.name for v in stored.variables] == ["name"]
    assert orchestrator.port.outbox == []  # the copy emits nothing


# --- POST /runs (command handler) -----------------------------------------------------------


async def test_an_accepted_run_appends_run_created_and_a_queued_run_together() -> None:
    orchestrator = Orchestrator()
    version = await orchestrator.version()
    accepted = await orchestrator.commands.create_run(
        create_run(version.version_id, repetitions=2), CONTEXT
    )

    assert (accepted.status, accepted.total_calls, accepted.stream_version) == ("queued", 6, 1)
    assert accepted.positions == [Position(str(accepted.run_id), 1)]
    assert accepted.plan.model == ModelRef(provider="mock", name="echo")
    assert accepted.estimated_cost is not None and accepted.estimated_cost.amount == 0
    [stored] = orchestrator.port.outbox
    assert isinstance(stored.event, RunCreated)
    assert stored.event.run_id == accepted.run_id
    assert stored.event.prompt_version_id == version.version_id
    assert stored.event.cases == [{"name": "Ann"}, {"name": "Bo"}, {"name": "Cy"}]
    assert stored.event.total_calls == 6
    envelope = stored.envelope
    assert (envelope.subject, envelope.streamversion) == (str(accepted.run_id), 1)
    assert (envelope.correlationid, envelope.traceparent) == ("corr-42", "00-ab")
    assert envelope.source == "/run-orchestrator"
    assert orchestrator.run(accepted.run_id) == RunRow("queued", 6, 0, 0, 0)
    assert orchestrator.created == 1  # the executor was woken


async def test_an_unknown_provider_is_refused_naming_the_configured_ones() -> None:
    orchestrator = Orchestrator()
    version = await orchestrator.version()
    with pytest.raises(DomainError) as refused:
        await orchestrator.commands.create_run(
            create_run(version.version_id, provider="nowhere"), CONTEXT
        )
    assert (refused.value.field, refused.value.rule) == ("provider", "unknown_provider")
    assert "mock" in refused.value.message
    assert orchestrator.port.outbox == [] and orchestrator.port.repos.runs == {}
    assert orchestrator.created == 0


async def test_an_unknown_prompt_version_is_refused_after_a_bounded_wait() -> None:
    orchestrator = Orchestrator(prompt_wait_seconds=0.2)
    started = time.monotonic()
    with pytest.raises(DomainError) as refused:
        await orchestrator.commands.create_run(create_run(uuid.uuid4()), CONTEXT)
    assert 0.2 <= time.monotonic() - started < 2
    assert (refused.value.field, refused.value.rule) == ("prompt_version_id", "not_found")
    assert orchestrator.port.outbox == [] and orchestrator.port.repos.runs == {}


async def test_a_version_arriving_during_the_wait_is_used() -> None:
    orchestrator = Orchestrator(prompt_wait_seconds=5.0)
    version = version_created()
    creating = asyncio.create_task(
        orchestrator.commands.create_run(create_run(version.version_id), CONTEXT)
    )
    await asyncio.sleep(0.12)
    assert not creating.done()
    await orchestrator.consume([version])
    accepted = await asyncio.wait_for(creating, 2)
    assert orchestrator.run(accepted.run_id).status == "queued"


async def test_a_case_that_cannot_render_writes_nothing() -> None:
    orchestrator = Orchestrator()
    version = version_created("Hello {{ 10 // (name | length - 2) }}")  # "Bo": division by 0
    await orchestrator.consume([version])
    with pytest.raises(DomainError) as refused:
        await orchestrator.commands.create_run(create_run(version.version_id), CONTEXT)
    assert (refused.value.field, refused.value.rule) == ("cases.1", "template_render")
    assert orchestrator.port.outbox == [] and orchestrator.port.repos.runs == {}


async def test_a_case_with_a_wrong_type_writes_nothing() -> None:
    orchestrator = Orchestrator()
    version = await orchestrator.version()  # `name` is a string
    command = create_run(version.version_id).model_copy(
        update={"cases": [Case(variables={"name": "Ann"}), Case(variables={"name": 3})]}
    )
    with pytest.raises(DomainError) as refused:
        await orchestrator.commands.create_run(command, CONTEXT)
    assert (refused.value.field, refused.value.rule) == ("cases.1.name", "type")
    assert "must be of type string, not number" in str(refused.value)
    assert orchestrator.port.outbox == [] and orchestrator.port.repos.runs == {}


async def test_a_template_that_would_blow_up_its_output_is_refused_before_a_call() -> None:
    # 20 bytes of template must not make a megabyte of prompt per case (a denial of service).
    orchestrator = Orchestrator()
    version = version_created('{{ "ab" * 500000 }}')
    await orchestrator.consume([version])
    with pytest.raises(DomainError) as refused:
        await orchestrator.commands.create_run(create_run(version.version_id), CONTEXT)
    assert (refused.value.field, refused.value.rule) == ("cases.0", "template_render")
    assert "100000" in refused.value.message
    assert orchestrator.port.outbox == [] and orchestrator.port.repos.runs == {}


async def test_a_run_of_more_than_the_maximum_calls_is_refused_naming_the_product() -> None:
    orchestrator = Orchestrator()
    version = await orchestrator.version()
    names = [str(i) for i in range(MAX_CALLS // 10)]
    command = create_run(version.version_id, names, repetitions=11)
    with pytest.raises(DomainError) as refused:
        await orchestrator.commands.create_run(command, CONTEXT)
    assert (refused.value.field, refused.value.rule) == ("repetitions", "too_many_calls")
    assert "10000 cases x 11 repetitions = 110000" in refused.value.message
    assert orchestrator.port.outbox == [] and orchestrator.port.repos.runs == {}
    at_limit = command.model_copy(update={"repetitions": 10})
    accepted = await orchestrator.commands.create_run(at_limit, CONTEXT)
    assert accepted.total_calls == MAX_CALLS


# --- execution --------------------------------------------------------------------------------


async def accepted_run(orchestrator: Orchestrator, repetitions: int = 2) -> RunAccepted:
    version = await orchestrator.version()
    command = create_run(version.version_id, repetitions=repetitions)
    return await orchestrator.commands.create_run(command, CONTEXT)


async def test_a_run_executes_on_the_mock_and_records_every_result_in_batches() -> None:
    orchestrator = Orchestrator()
    accepted = await accepted_run(orchestrator)
    await orchestrator.execute(accepted.run_id)

    stored = orchestrator.stream(accepted.run_id)
    assert kinds(stored) == ["created", "started", *["result_recorded"] * 6, "completed"]
    assert [s.envelope.streamversion for s in stored] == list(range(1, 10))
    results = results_of(stored)
    assert sorted((r.case_index, r.repetition) for r in results) == [
        (c, r) for c in range(3) for r in (1, 2)
    ]
    names = ["Ann", "Bo", "Cy"]
    assert all(r.output == f"Hello {names[r.case_index]}" and r.error is None for r in results)
    assert stored[-1].event == RunCompleted(
        run_id=accepted.run_id, status="completed", succeeded=6, failed=0, cost=FREE
    )
    # Every event of the run belongs to the creating request and is caused by RunCreated.
    created = stored[0].envelope
    assert {s.envelope.correlationid for s in stored} == {"corr-42"}
    assert {s.envelope.causationid for s in stored[1:]} == {str(created.id)}
    assert {s.envelope.traceparent for s in stored} == {"00-ab"}
    # The run's row agrees with its stream.
    assert orchestrator.run(accepted.run_id) == RunRow("completed", 6, 6, 6, 0, cost=Decimal(0))
    assert len(orchestrator.port.repos.results[accepted.run_id]) == 6
    # Recorded in flushes of at most flush_size (2) results, one transaction each.
    batches = orchestrator.port.repos.batches
    assert sum(batches) == 6 and max(batches) <= SETTINGS.flush_size


async def test_a_resumed_run_calls_only_the_pairs_without_a_result() -> None:
    orchestrator = Orchestrator()
    accepted = await accepted_run(orchestrator)
    # A first process started the run and recorded two results before it died.
    state = await load_run(orchestrator.port, accepted.run_id)
    assert state is not None
    await append_lifecycle(orchestrator.port, state, RunStarted(run_id=accepted.run_id), "running")
    earlier = [
        ResultRecorded(
            run_id=accepted.run_id,
            result_id=uuid.uuid4(),
            case_index=case,
            repetition=repetition,
            output="earlier",
            latency_ms=1.0,
        )
        for case, repetition in [(0, 1), (2, 2)]
    ]
    async with orchestrator.port.transaction(state.context) as tx:
        await tx.append(state.stream_id, earlier, state.version)
        await tx.repos.record_results(accepted.run_id, earlier)

    provider = CountingProvider()
    await orchestrator.execute(accepted.run_id, provider)

    assert set(provider.calls) == {(0, 2), (1, 1), (1, 2), (2, 1)}
    assert set(provider.calls.values()) == {1}
    stored = orchestrator.stream(accepted.run_id)
    assert kinds(stored) == ["created", "started", *["result_recorded"] * 6, "completed"]
    pairs = [(r.case_index, r.repetition) for r in results_of(stored)]
    assert len(set(pairs)) == len(pairs) == 6
    assert orchestrator.run(accepted.run_id) == RunRow("completed", 6, 6, 6, 0, cost=Decimal(0))


async def test_a_run_whose_provider_is_gone_fails() -> None:
    orchestrator = Orchestrator()
    accepted = await accepted_run(orchestrator)
    await RunExecution(orchestrator.port, ByName({}), SETTINGS).execute(accepted.run_id)
    stored = orchestrator.stream(accepted.run_id)
    assert kinds(stored) == ["created", "failed"]
    assert stored[-1].event == RunFailed(
        run_id=accepted.run_id, reason="provider 'mock' is not configured"
    )
    assert orchestrator.run(accepted.run_id).status == "failed"


async def test_a_finished_run_is_not_executed_again() -> None:
    orchestrator = Orchestrator()
    accepted = await accepted_run(orchestrator, repetitions=1)
    await orchestrator.execute(accepted.run_id)
    provider = CountingProvider()
    await orchestrator.execute(accepted.run_id, provider)
    assert provider.calls == Counter()
    assert len(orchestrator.stream(accepted.run_id)) == 6


async def test_the_executor_runs_created_runs_under_their_lock() -> None:
    orchestrator = Orchestrator()
    locks = InMemoryRunLocks()
    executor = Executor(orchestrator.port, ByName({"mock": MockProvider()}), locks, SETTINGS)
    version = await orchestrator.version()
    commands = RunCommands(
        orchestrator.port,
        ProviderRegistry(SETTINGS),
        prompt_wait_seconds=0,
        on_run_created=executor.notify,
    )
    locked_elsewhere = (await commands.create_run(create_run(version.version_id), CONTEXT)).run_id
    assert await locks.try_acquire(locked_elsewhere) is not None  # another replica holds it
    running = asyncio.create_task(executor.run())
    try:
        run_ids = [
            (await commands.create_run(create_run(version.version_id), CONTEXT)).run_id
            for _ in range(3)
        ]
        async with asyncio.timeout(10):
            while any(orchestrator.run(r).status != "completed" for r in run_ids):
                await asyncio.sleep(0.01)
        assert orchestrator.run(locked_elsewhere).status == "queued"
        assert locks.held == {locked_elsewhere}  # the executor released the locks it took
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    for run_id in run_ids:
        assert kinds(orchestrator.stream(run_id))[-1] == "completed"


async def test_an_unreachable_rate_limit_stops_the_run_without_failed_results() -> None:
    """A call must not go out unlimited, nor be recorded as failed: the run's execution stops
    and a later attempt (here with the schedule back) records every result once."""

    class Down:
        async def reserve(self, key: str, seconds: float) -> tuple[float, float]:
            raise ConnectionError("database down")

        async def adjust(self, key: str, seconds: float) -> None:
            raise ConnectionError("database down")

    limited = RunOrchestratorSettings(
        flush_size=2,
        flush_interval_ms=5,
        providers={
            "limited": {
                "base_url": "http://127.0.0.1:9/v1",
                "limits": {"requests_per_minute": 600_000},
            }
        },
    )
    orchestrator = Orchestrator()
    version = await orchestrator.version()
    commands = RunCommands(orchestrator.port, ProviderRegistry(limited), prompt_wait_seconds=0.0)
    accepted = await commands.create_run(
        create_run(version.version_id, provider="limited"), CONTEXT
    )

    class LimitedMock(MockProvider):
        """The mock's answers, with the configuration of the limited provider."""

        config = limited.providers["limited"]

    providers = ByName({"limited": LimitedMock()})
    down = ProviderCalls(limited, SharedRateLimiter(Down()))
    with pytest.raises(ExceptionGroup) as stopped:
        await RunExecution(orchestrator.port, providers, limited, down).execute(accepted.run_id)
    assert stopped.group_contains(RateLimiterUnavailableError)
    assert results_of(orchestrator.stream(accepted.run_id)) == []
    assert orchestrator.run(accepted.run_id).status == "running"

    back = ProviderCalls(limited, SharedRateLimiter(InMemoryRateLimitStore()))
    await RunExecution(orchestrator.port, providers, limited, back).execute(accepted.run_id)
    stored = orchestrator.stream(accepted.run_id)
    assert kinds(stored) == ["created", "started", *["result_recorded"] * 3, "completed"]
    assert all(r.error is None for r in results_of(stored))
