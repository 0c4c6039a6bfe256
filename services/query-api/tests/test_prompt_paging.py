"""Cursor paging through whole lists, and the plans of the hot queries (indexes, no scans)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine

from promptworks_contracts.events import (
    PromptArchived,
    PromptCreated,
    PromptTagCreated,
    PromptVersionCreated,
)
from promptworks_contracts.values import TextTemplate

pytestmark = pytest.mark.integration

PROMPTS = "/api/v1/prompts"
SORTS = ("updated_at", "-updated_at", "created_at", "-created_at", "name", "-name")


async def publish_many(api: Any, publisher: Any, count: int) -> list[PromptCreated]:
    """``count`` prompts, some with equal names (the id breaks ties), every 5th archived."""
    tag = PromptTagCreated(tag_id=uuid.uuid4(), name="bulk", color="#123456")
    prompts = [
        PromptCreated(
            prompt_id=uuid.uuid4(),
            name=f"report {i % 7}",
            author=f"author {i}",
            tag_ids=[tag.tag_id] if i % 2 else [],
        )
        for i in range(count)
    ]
    events: list[Any] = [tag]
    for i, prompt in enumerate(prompts):
        events.append(
            PromptVersionCreated(
                prompt_id=prompt.prompt_id,
                version_id=uuid.uuid4(),
                number=1,
                template=TextTemplate(text=f"report {i}"),
            )
        )
        if i % 5 == 4:
            events.append(PromptArchived(prompt_id=prompt.prompt_id))
    await publisher.publish([*prompts, *events])
    for prompt in prompts:
        await api.applied(prompt, publisher.version(prompt))
    return prompts


async def walk(api: Any, **params: Any) -> tuple[list[str], set[str]]:
    """Every page by cursor: (ids in order, totals seen)."""
    ids: list[str] = []
    totals: set[str] = set()
    params = {**params, "limit": 4}
    while True:
        response = await api.client.get(PROMPTS, params=params)
        assert response.status_code == 200, response.text
        ids += [item["id"] for item in response.json()]
        totals.add(response.headers["X-Total-Count"])
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in response.headers
            return ids, totals
        assert response.headers["Link"].endswith('>; rel="next"')
        assert f"cursor={cursor}" in response.headers["Link"]
        params["cursor"] = cursor


async def test_cursor_pages_cover_every_list_exactly_once(api, publisher) -> None:
    await publish_many(api, publisher, 23)
    cases = [{"sort": s} for s in SORTS]
    cases += [{"sort": "name", "archived": "all"}, {"sort": "-created_at", "tag": "bulk"}]
    cases += [{"q": "report"}, {"q": "author 1"}, {"q": "report", "sort": "name"}]
    for params in cases:
        whole = await api.client.get(PROMPTS, params={**params, "limit": 200})
        expected = [item["id"] for item in whole.json()]
        assert expected, params
        ids, totals = await walk(api, **params)
        assert ids == expected, params
        assert totals == {whole.headers["X-Total-Count"]} == {str(len(expected))}, params


async def test_a_cursor_is_not_thrown_off_by_new_prompts(api, publisher) -> None:
    prompts = await publish_many(api, publisher, 10)
    first = await api.client.get(PROMPTS, params={"limit": 3})
    seen = [item["id"] for item in first.json()]
    newcomer = PromptCreated(prompt_id=uuid.uuid4(), name="newcomer")
    await publisher.publish([newcomer])
    await api.applied(newcomer, 1)
    rest, _ = await walk(api, cursor=first.headers["X-Next-Cursor"])
    visible = [str(p.prompt_id) for i, p in enumerate(prompts) if i % 5 != 4]
    assert sorted(seen + rest) == sorted(visible)  # no duplicate, no gap, newcomer not mixed in


async def test_bad_cursors_are_422_naming_the_parameter(api, publisher) -> None:
    await publish_many(api, publisher, 6)
    by_name = (await api.client.get(PROMPTS, params={"sort": "name", "limit": 2})).headers
    cursor = by_name["X-Next-Cursor"]
    cases = [
        ({"cursor": "not-a-cursor"}, "cursor", "malformed"),
        ({"cursor": "eyJ4Ijox"}, "cursor", "malformed"),
        ({"cursor": cursor, "sort": "-name"}, "cursor", "sort=name"),
        ({"cursor": cursor, "sort": "name", "tag": "bulk"}, "cursor", "other filters"),
        ({"cursor": cursor, "sort": "name", "offset": 2}, "offset", "not both"),
    ]
    for params, field, words in cases:
        response = await api.client.get(PROMPTS, params=params)
        assert response.status_code == 422, params
        detail = response.json()["errors"][0]
        assert detail["field"] == field and words in detail["msg"], (params, detail)
    ok = await api.client.get(PROMPTS, params={"cursor": cursor, "sort": "name"})
    assert ok.status_code == 200


@contextlib.contextmanager
def captured(api: Any) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (and parameters) the app runs meanwhile."""
    statements: list[tuple[str, Any]] = []
    engine = api.app.state.runtime.engine.sync_engine

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("SELECT") and "prompts" in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def plans(api: Any, path: str, params: dict[str, Any]) -> list[str]:
    """The plans of the statements a request runs (EXPLAIN with the same parameters)."""
    with captured(api) as statements:
        response = await api.client.get(path, params=params)
        assert response.status_code == 200, response.text
    found = []
    async with api.sessions() as session:
        connection = await session.connection()
        for statement, parameters in statements:
            rows = await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            found.append("\n".join(row[0] for row in rows))
    assert found
    return found


async def test_the_hot_queries_are_served_by_indexes(
    api, world, publisher, settings, eventually
) -> None:
    """With enough rows (and fresh statistics) for the planner to choose as it would in
    production, each hot query reads ``prompts`` through the index made for it."""
    filler = [
        PromptCreated(prompt_id=uuid.uuid4(), name=f"filler {i}", author=f"writer {i}")
        for i in range(20_000)
    ]
    await publisher.publish(filler)
    engine = create_async_engine(settings.database_url.get_secret_value())
    try:

        async def loaded() -> None:
            async with engine.connect() as connection:
                count = await connection.scalar(text("SELECT count(*) FROM prompts"))
            assert count == len(filler) + len(world.prompts)

        await eventually(loaded)
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE prompts, prompt_tokens"))
    finally:
        await engine.dispose()

    for params, indexes in (
        # One word sorted otherwise than by relevance: the lexicon's matches.
        ({"q": "greting", "sort": "-updated_at"}, ("ix_prompts_words",)),
        ({"q": "demo", "sort": "-updated_at"}, ("ix_prompts_class",)),  # a class's name
        ({"q": "ann le"}, ("ix_prompts_search_trgm",)),  # more: each text scored
        ({"tag": "email"}, ("ix_prompts_tag_ids",)),
        ({"label": "staging"}, ("ix_prompts_labels",)),
        ({"class_name": "demo"}, ("ix_prompts_class",)),
    ):
        for plan in await plans(api, PROMPTS, params):
            for index in indexes:
                assert index in plan, (params, plan)
            assert "Seq Scan on prompts" not in plan, (params, plan)
    # The first page is one statement on the hot pool (not SQLAlchemy's): explained as it runs.
    from query_api.queries.prompt_list import hot_statement

    first = hot_statement("-updated_at", "false").explained()
    params = {"project": "default", "limit": 51, "offset": 0}
    rows = await api.app.state.hot_reads.rows(first, params)
    first_page = "\n".join(row[0] for row in rows)
    assert "ix_prompts_active_updated_at" in first_page, first_page
    # One word by relevance: each matched word's (and class's) first prompts in index order.
    for q in ("greting", "demo"):
        for plan in await search_plans(api, q):
            assert "ix_prompt_tokens_rank" in plan, plan
            assert "Seq Scan on prompt" not in plan and "Bitmap" not in plan, plan
    by_label = await plans(api, f"{PROMPTS}/{world.greeting.prompt_id}", {"label": "production"})
    assert len(by_label) == 1, "fetch by label is ONE query"
    for index in ("prompts_pkey", "prompt_labels_pkey", "uq_prompt_versions_prompt_number"):
        assert index in by_label[0], by_label[0]
    # Classes and tags are a few hundred rows: scanning them is the planner's right call.
    for big in ("prompts", "prompt_versions", "prompt_labels"):
        assert f"Seq Scan on {big} " not in by_label[0], by_label[0]


async def search_plans(api: Any, q: str) -> list[str]:
    """The plans of a one-word search's page and count (``queries.prompt_search``) as they run
    on the hot pool: prepared, with the tokens the query matches."""
    from query_api.projections.prompt_tokens import class_token
    from query_api.queries.prompt_filters import matched
    from query_api.queries.prompt_search import count_statement, page_statement

    reads = api.app.state.hot_reads
    found = await matched(reads.rows, "default", q, 65)
    assert found, q
    params = {
        "project": "default",
        "tokens": [key if kind == "w" else class_token(key) for kind, key, _ in found],
        "scores": [score for _, _, score in found],
        "exact": q,
        "reach": 51,
        "limit": 51,
        "offset": 0,
    }
    plans = []
    for statement in (page_statement("false", len(found) == 1), count_statement("false", False)):
        rows = await reads.rows(statement.explained(), params)
        plans.append("\n".join(row[0] for row in rows))
    return plans
