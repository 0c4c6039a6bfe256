"""One suite for both ``RunRepository`` implementations, each behind its write port: what the
handler tests rely on in memory holds on PostgreSQL (the ``memory`` cases need no
infrastructure)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from promptworks_contracts.events import (
    CredentialRef,
    PromptVersionCreated,
    ProviderState,
    ResultRecorded,
)
from promptworks_contracts.values import Money, TextTemplate, TokenUsage, VariableSpec
from promptworks_eventkit.db import create_engine, create_sessionmaker
from promptworks_eventkit.errors import ConflictError
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.settings import KafkaSettings
from promptworks_eventkit.writing.memory import InMemoryWritePort
from promptworks_eventkit.writing.port import WritePort
from promptworks_eventkit.writing.postgres import PostgresWritePort
from run_orchestrator.adapters.memory import InMemoryRunRepository
from run_orchestrator.adapters.postgres import PostgresRunRepository
from run_orchestrator.domain.caching import CachedResponse
from run_orchestrator.handlers.ports import (
    ResultAlreadyRecordedError,
    RunRepository,
    RunRow,
    StoredProvider,
)
from tests.support.infra import Infra, create_database, drop_database, migrate

Port = WritePort[RunRepository]


@pytest.fixture(scope="module")
async def postgres(infra: Infra) -> AsyncIterator[Port]:
    """One migrated database for the module's PostgreSQL cases (run ids are unique per test)."""
    url = await create_database(infra, "run_orchestrator")
    engine = create_engine(url, pool_size=2)
    try:
        await migrate("run-orchestrator", url)
        sessions, store = create_sessionmaker(engine), EventStore("/tests", KafkaSettings())
        yield PostgresWritePort[RunRepository](sessions, store, PostgresRunRepository)
    finally:
        await engine.dispose()
        await drop_database(infra, url)


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.integration)])
def port(request: pytest.FixtureRequest) -> Port:
    if request.param == "memory":
        return InMemoryWritePort[RunRepository](InMemoryRunRepository())
    postgres: Port = request.getfixturevalue("postgres")
    return postgres


def result(
    run_id: uuid.UUID, case: int, repetition: int, error: str | None = None
) -> ResultRecorded:
    return ResultRecorded(
        run_id=run_id,
        result_id=uuid.uuid4(),
        case_index=case,
        repetition=repetition,
        output=None if error else "ok",
        latency_ms=1.0,
        error=error,
    )


async def test_versions_are_copied_once_and_found_by_id(port: Port) -> None:
    first = PromptVersionCreated(
        prompt_id=uuid.uuid4(),
        version_id=uuid.uuid4(),
        number=3,
        label="v3",
        template=TextTemplate(text="Hi {{ name }}"),
        variables=[VariableSpec(name="name", default="you")],
    )
    changed = first.model_copy(update={"template": TextTemplate(text="changed")})
    async with port.transaction() as tx:
        await tx.repos.add_versions([first])
        await tx.repos.add_versions([])
    async with port.transaction() as tx:
        await tx.repos.add_versions([changed])
        found = await tx.repos.find_version(first.version_id)
        assert await tx.repos.find_version(uuid.uuid4()) is None
    assert found is not None
    assert (found.version_id, found.prompt_id, found.number) == (
        first.version_id,
        first.prompt_id,
        3,
    )
    assert found.template == TextTemplate(text="Hi {{ name }}")
    assert found.variables == [VariableSpec(name="name", default="you")]


async def test_a_run_moves_through_its_statuses_and_counts_its_results(port: Port) -> None:
    run_id = uuid.uuid4()
    async with port.transaction() as tx:
        await tx.repos.add_run(run_id, 4)
        assert await tx.repos.find_run(run_id) == RunRow("queued", 4, 0, 0, 0)
        assert await tx.repos.find_run(uuid.uuid4()) is None
        assert await tx.repos.recorded_pairs(run_id) == set()
    async with port.transaction() as tx:
        await tx.repos.set_status(run_id, "running")
        await tx.repos.record_results(run_id, [result(run_id, 0, 1), result(run_id, 1, 1, "x")])
        await tx.repos.record_results(run_id, [])
    async with port.transaction() as tx:
        await tx.repos.record_results(run_id, [result(run_id, 0, 2)])
        assert await tx.repos.find_run(run_id) == RunRow("running", 4, 3, 2, 1)
        assert await tx.repos.recorded_pairs(run_id) == {(0, 1), (1, 1), (0, 2)}


async def test_a_second_result_for_a_pair_is_refused_and_the_batch_rolled_back(
    port: Port,
) -> None:
    run_id = uuid.uuid4()
    async with port.transaction() as tx:
        await tx.repos.add_run(run_id, 4)
        await tx.repos.record_results(run_id, [result(run_id, 0, 1)])
    with pytest.raises(ResultAlreadyRecordedError):
        async with port.transaction() as tx:
            await tx.repos.record_results(run_id, [result(run_id, 1, 1), result(run_id, 0, 1)])
    async with port.transaction() as tx:
        assert await tx.repos.recorded_pairs(run_id) == {(0, 1)}
        assert await tx.repos.find_run(run_id) == RunRow("queued", 4, 1, 1, 0)


async def test_unfinished_runs_are_listed_oldest_first(port: Port) -> None:
    async with port.transaction() as tx:  # the runs of earlier tests in the same database
        for earlier in await tx.repos.unfinished_runs(1000):
            await tx.repos.set_status(earlier, "completed")
    run_ids = [uuid.uuid4() for _ in range(5)]
    for run_id in run_ids:  # one transaction each: created_at is the transaction's start
        async with port.transaction() as tx:
            await tx.repos.add_run(run_id, 1)
    async with port.transaction() as tx:
        await tx.repos.set_status(run_ids[1], "running")
        await tx.repos.set_status(run_ids[2], "completed")
        await tx.repos.set_status(run_ids[3], "failed")
    async with port.transaction() as tx:
        assert await tx.repos.unfinished_runs(10) == [run_ids[0], run_ids[1], run_ids[4]]
        assert await tx.repos.unfinished_runs(2) == [run_ids[0], run_ids[1]]


async def test_labels_resolve_and_latest_is_the_highest_number(port: Port) -> None:
    prompt_id = uuid.uuid4()
    versions = [
        PromptVersionCreated(
            prompt_id=prompt_id,
            version_id=uuid.uuid4(),
            number=number,
            template=TextTemplate(text=f"v{number}"),
        )
        for number in (1, 3, 2)
    ]
    async with port.transaction() as tx:
        await tx.repos.add_versions(versions)
        await tx.repos.move_label(prompt_id, "production", versions[0].version_id)
        await tx.repos.move_label(prompt_id, "production", versions[2].version_id)
        await tx.repos.move_label(prompt_id, "staging", versions[0].version_id)
        await tx.repos.remove_label(prompt_id, "staging")
    async with port.transaction() as tx:
        assert await tx.repos.resolve_label(prompt_id, "production") == versions[2].version_id
        assert await tx.repos.resolve_label(prompt_id, "latest") == versions[1].version_id
        assert await tx.repos.resolve_label(prompt_id, "staging") is None
        assert await tx.repos.resolve_label(uuid.uuid4(), "latest") is None


async def test_costs_failures_and_cancel_marks_are_kept_with_the_run(port: Port) -> None:
    run_id = uuid.uuid4()
    priced = [
        result(run_id, 0, 1).model_copy(update={"cost": Money(amount=Decimal("0.25"))}),
        result(run_id, 0, 2, error="boom").model_copy(update={"cost": Money(amount=Decimal(0))}),
        result(run_id, 1, 1).model_copy(update={"cost": Money(amount=Decimal("0.5"))}),
    ]
    async with port.transaction() as tx:
        await tx.repos.add_run(run_id, 4)
        await tx.repos.record_results(run_id, priced)
        await tx.repos.request_cancel(run_id, "张伟")
    async with port.transaction() as tx:
        row = await tx.repos.find_run(run_id, for_update=True)
        assert row is not None and row.cost == Decimal("0.75")
        assert (row.recorded, row.failed, row.cancel_requested_by) == (3, 1, "张伟")
        assert await tx.repos.failed_pairs(run_id) == [(0, 2)]


async def test_the_response_cache_keeps_the_first_answer_and_ages_out(port: Port) -> None:
    first = CachedResponse("one", TokenUsage(prompt_tokens=1), "stop")
    key = uuid.uuid4().hex
    async with port.transaction() as tx:
        await tx.repos.store_responses([(key, first)])
        await tx.repos.store_responses([(key, CachedResponse("two", TokenUsage(), None))])
    async with port.transaction() as tx:
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        assert await tx.repos.cached_responses([key, "absent"], hour_ago) == {key: first}
        later = datetime.now(UTC) + timedelta(hours=1)
        assert await tx.repos.cached_responses([key], later) == {}


async def test_catalog_providers_have_unique_names(port: Port) -> None:
    state = ProviderState(
        name=f"p{uuid.uuid4().hex[:8]}",
        kind="openai",
        base_url="https://api.example.com/v1",
        credential=CredentialRef(source="encrypted"),
        timeout_seconds=30,
    )
    provider = StoredProvider(uuid.uuid4(), state, b"sealed")
    async with port.transaction() as tx:
        await tx.repos.save_provider(provider)
    # Names are unique per project (ADR 0017): project b may have its own provider of that name.
    in_b = StoredProvider(uuid.uuid4(), state, None, "b")
    async with port.transaction() as tx:
        await tx.repos.save_provider(in_b)
    async with port.transaction() as tx:
        assert await tx.repos.find_provider(state.name, "default") == provider
        assert await tx.repos.find_provider(state.name, "b") == in_b
        assert await tx.repos.find_provider(state.name, "c") is None
        assert provider in await tx.repos.list_providers("default")
        assert in_b not in await tx.repos.list_providers("default")
        assert in_b in await tx.repos.list_providers()
    with pytest.raises(ConflictError):
        async with port.transaction() as tx:
            await tx.repos.save_provider(StoredProvider(uuid.uuid4(), state))
    async with port.transaction() as tx:
        await tx.repos.delete_provider(provider.provider_id)
    async with port.transaction() as tx:
        assert await tx.repos.find_provider(state.name, "default") is None
        assert await tx.repos.find_provider(state.name, "b") == in_b
