"""Prompt read models through GET /api/v1/prompts, built from real events on real Kafka."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, text

from query_api.queries.prompts import search_condition
from query_api.tables import prompts

pytestmark = pytest.mark.integration

PROMPTS = "/api/v1/prompts"


def names(body: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in body]


async def test_prompts_are_listed_newest_first_with_their_versions(api, catalog) -> None:
    response = await api.client.get(PROMPTS)
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "3"
    body = response.json()
    # greeting's second version came last, so greeting is the most recently updated prompt.
    assert names(body) == ["greeting", "translator", "summarize article"]

    greeting = body[0]
    assert greeting["id"] == str(catalog.greeting.prompt_id)
    assert greeting["author"] == "ann lee" and greeting["class_name"] == "demo"
    assert greeting["tags"] == ["onboarding", "email"]
    assert greeting["version_count"] == 2 and greeting["stream_version"] == 3
    assert greeting["updated_at"] > greeting["created_at"]
    current = greeting["current_version"]
    assert current["id"] == str(catalog.greeting_v2.version_id)
    assert current["number"] == 2 and current["label"] == "v2"
    assert current["template"] == {
        "kind": "chat",
        "messages": [{"role": "user", "content": "Hi {{ name }}"}],
    }
    assert current["variables"] == [
        {"name": "name", "type": "string", "required": True, "default": None}
    ]
    assert current["default_model"] == {"provider": "mock", "name": "echo", "version": None}
    assert current["commit_message"] == "chat form" and current["author"] == "ann lee"
    assert [(v["number"], v["label"]) for v in greeting["versions"]] == [(2, "v2"), (1, "v1")]
    assert greeting["versions"][1]["id"] == str(catalog.greeting_v1.version_id)
    assert body[1]["class_name"] is None and body[1]["current_version"]["number"] == 1

    one = await api.client.get(f"{PROMPTS}/{catalog.greeting.prompt_id}")
    assert one.status_code == 200 and one.json() == greeting


async def test_prompt_pages_and_bad_paging(api, catalog) -> None:
    page = await api.client.get(PROMPTS, params={"limit": 1, "offset": 1})
    assert names(page.json()) == ["translator"] and page.headers["X-Total-Count"] == "3"
    past_end = await api.client.get(PROMPTS, params={"limit": 10, "offset": 5})
    assert past_end.json() == [] and past_end.headers["X-Total-Count"] == "3"
    bad_pages = (({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"offset": -1}, "offset"))
    for params, field in bad_pages:
        bad = await api.client.get(PROMPTS, params=params)
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == field


async def test_unknown_prompt_is_404_naming_it(api, catalog) -> None:
    unknown = uuid.uuid4()
    response = await api.client.get(f"{PROMPTS}/{unknown}")
    assert response.status_code == 404
    detail = response.json()["detail"][0]
    assert detail["field"] == "prompt_id" and str(unknown) in detail["msg"]
    malformed = await api.client.get(f"{PROMPTS}/not-a-uuid")
    assert malformed.status_code == 422 and malformed.json()["detail"][0]["field"] == "prompt_id"


SEARCHES = [
    ("greting", ["greeting"]),  # a typo
    ("GREETING", ["greeting"]),
    ("bob", ["summarize article"]),  # author
    ("ann le", ["greeting"]),  # author, partial
    ("news", ["summarize article"]),  # class
    ("transl", ["translator"]),  # prefix
    ("marize", ["summarize article"]),  # substring
    ("50%_off", []),  # LIKE wildcards are taken literally
    ("zzzzqqq", []),
]


async def test_fuzzy_search_on_name_author_and_class(api, catalog) -> None:
    for q, expected in SEARCHES:
        response = await api.client.get(PROMPTS, params={"q": q})
        assert response.status_code == 200
        assert names(response.json()) == expected, q
        assert response.headers["X-Total-Count"] == str(len(expected)), q
    too_long = await api.client.get(PROMPTS, params={"q": "x" * 201})
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["field"] == "q"


async def test_search_orders_best_match_first(api, catalog, publisher) -> None:
    greeting_card = catalog.greeting.model_copy(
        update={"prompt_id": uuid.uuid4(), "name": "greeting card writer", "author": "dan"}
    )
    await publisher.publish([greeting_card])
    await api.applied(greeting_card, 1)
    body = (await api.client.get(PROMPTS, params={"q": "greeting"})).json()
    # Both contain the word; the exact name ranks first although it was updated earlier.
    assert names(body) == ["greeting", "greeting card writer"]
    assert body[1]["current_version"] is None and body[1]["versions"] == []


async def test_search_is_served_by_the_trigram_indexes(api, catalog) -> None:
    match, _ = search_condition("greting")
    query = select(prompts.c.prompt_id).where(match)
    dialect = api.app.state.runtime.engine.dialect
    sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    async with api.sessions() as session, session.begin():
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(row[0] for row in await session.execute(text(f"EXPLAIN {sql}")))
    for index in ("ix_prompts_name_trgm", "ix_prompts_author_trgm", "ix_prompts_class_name_trgm"):
        assert index in plan, plan
    assert "Seq Scan" not in plan, plan
