"""ONE contract for the set-validation lookups (``handlers.ports``), run against both adapters:
in memory and on PostgreSQL (migrated as deployed). What the handler tests rely on from the
in-memory lookups is exactly what passes here for both."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from prompt_service.adapters.memory import MemoryPromptRepos
from prompt_service.adapters.postgres import PostgresPromptRepos
from prompt_service.domain.taxonomy import CLASS, TAG
from prompt_service.handlers.ports import PromptPort
from promptworks_eventkit.db import create_engine, create_sessionmaker
from promptworks_eventkit.errors import ConflictError
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.settings import KafkaSettings
from promptworks_eventkit.writing.memory import InMemoryWritePort
from promptworks_eventkit.writing.postgres import PostgresWritePort
from tests.support.infra import create_database, drop_database, migrate

A, B, C = sorted(uuid.uuid4() for _ in range(3))


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.integration)])
async def port(request: pytest.FixtureRequest) -> AsyncIterator[PromptPort]:
    if request.param == "memory":
        yield InMemoryWritePort(MemoryPromptRepos())
        return
    infra = request.getfixturevalue("infra")  # synchronous: only this variant starts it
    url = await create_database(infra, "prompt_service_lookups")
    engine = create_engine(url, pool_size=2)
    try:
        await migrate("prompt-service", url)
        store = EventStore("/tests", KafkaSettings())
        yield PostgresWritePort(create_sessionmaker(engine), store, PostgresPromptRepos)
    finally:
        await engine.dispose()
        await drop_database(infra, url)


async def test_a_prompt_name_is_unique_within_its_class(port: PromptPort) -> None:
    support = uuid.uuid4()
    async with port.transaction() as tx:
        repos = tx.repos
        assert await repos.terms(CLASS).claim(support, "support", "")
        assert await repos.claim_prompt_name(A, None, "greet")
        assert not await repos.claim_prompt_name(B, None, "greet"), "taken without a class"
        assert await repos.claim_prompt_name(B, support, "greet"), "free in the class"
        assert not await repos.claim_prompt_name(C, support, "greet")
        assert not await repos.claim_prompt_name(A, support, "other"), "one row per prompt"
        assert not await repos.move_prompt_name(B, None, "greet")
        assert await repos.move_prompt_name(B, support, "renamed")
        assert await repos.move_prompt_name(A, support, "greet"), "moved into the class"
        assert await repos.lock_prompt(A) and not await repos.lock_prompt(C)


@pytest.mark.parametrize("kind", [CLASS, TAG], ids=["class", "tag"])
async def test_a_term_name_is_unique_among_live_terms(port: PromptPort, kind: Any) -> None:
    extra = "#112233"
    async with port.transaction() as tx:
        terms = tx.repos.terms(kind)
        assert await terms.claim(A, "one", extra) and await terms.claim(B, "two", extra)
        assert not await terms.claim(C, "one", extra)
        assert await terms.ids_by_name(["one", "nope", "two"]) == {"one": A, "two": B}
        assert (await terms.name_of(A), await terms.name_of(C)) == ("one", None)
        assert not await terms.update(B, "one", extra)
        assert await terms.update(B, "deux", "#445566")
        assert await terms.update(B, "deux", extra), "its own name is not a clash"
        assert await terms.share([A, B, C]) == {A, B} and await terms.share([]) == set()
        assert await terms.lock(A) and not await terms.lock(C)
        await terms.delete(A)
        assert await terms.claim(C, "one", extra), "a deleted term frees its name"
        assert not await terms.lock(A)


async def test_the_users_of_a_class_and_of_a_tag(port: PromptPort) -> None:
    klass, tag, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with port.transaction() as tx:
        repos = tx.repos
        classes, tags = repos.terms(CLASS), repos.terms(TAG)
        assert await classes.claim(klass, "c", "")
        assert await tags.claim(tag, "t", "#000000") and await tags.claim(other, "o", "#000000")
        for prompt_id, name in ((C, "same"), (A, "a")):
            assert await repos.claim_prompt_name(prompt_id, klass, name)
        assert await repos.claim_prompt_name(B, None, "same")
        await repos.set_prompt_tags(C, (), (tag, other))
        await repos.set_prompt_tags(A, (), (tag,))
        await repos.set_prompt_tags(C, (tag, other), (other,))
        assert await classes.lock_users(klass) == [A, C]
        assert await classes.detach_clashes(klass) == ["same"]
        assert await tags.lock_users(tag) == [A] and await tags.lock_users(other) == [C]
        assert await tags.detach_clashes(tag) == []


async def test_a_tag_must_exist_to_be_attached_and_a_failure_writes_nothing(
    port: PromptPort,
) -> None:
    with pytest.raises(ConflictError) as error:
        async with port.transaction() as tx:
            assert await tx.repos.claim_prompt_name(A, None, "p")
            await tx.repos.set_prompt_tags(A, (), (uuid.uuid4(),))
    assert error.value.rule == "concurrent_update"
    async with port.transaction() as tx:
        assert not await tx.repos.lock_prompt(A), "the whole transaction rolled back"
