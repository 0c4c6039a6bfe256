"""GET /api/v1/prompts: shapes, filters, search, sorts and counts, from real events on Kafka."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from promptworks_contracts.events import (
    PromptArchived,
    PromptClassDeleted,
    PromptClassUpdated,
    PromptLabelRemoved,
    PromptMetadataEdited,
    PromptRestored,
    PromptTagUpdated,
)

pytestmark = pytest.mark.integration

PROMPTS = "/api/v1/prompts"


def names(body: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in body]


async def listed(api: Any, **params: Any) -> tuple[list[str], str]:
    response = await api.client.get(PROMPTS, params=params)
    assert response.status_code == 200, response.text
    return names(response.json()), response.headers["X-Total-Count"]


async def test_a_listed_prompt_has_the_full_shape(api, world) -> None:
    response = await api.client.get(PROMPTS)
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "3"
    body = response.json()
    # Newest change first; the archived prompt is hidden.
    assert names(body) == ["greeting", "translator", "summarize article"]
    greeting = body[0]
    g1, g2, g3 = world.greeting_versions
    assert greeting["id"] == str(world.greeting.prompt_id)
    assert greeting["description"] == "" and greeting["author"] == "ann lee"
    assert greeting["class"] == {"id": str(world.demo.class_id), "name": "demo"}
    assert greeting["tags"] == [
        {"id": str(world.onboarding.tag_id), "name": "onboarding", "color": "#12AB34"},
        {"id": str(world.email.tag_id), "name": "email", "color": "#0000AA"},
    ]
    assert greeting["labels"] == {"production": 2, "staging": 3, "latest": 3}
    assert greeting["archived"] is False
    assert greeting["version_count"] == 3 and greeting["stream_version"] == 10
    assert greeting["updated_at"] > greeting["created_at"]
    current = greeting["current_version"]  # rolled back from 3 to 2
    assert current == {
        "id": str(g2.version_id),
        "number": 2,
        "label": None,
        "created_at": current["created_at"],
        "prompt_id": str(world.greeting.prompt_id),
        "template": {
            "kind": "chat",
            "messages": [
                {"role": "system", "content": "Be {{ tone }}."},
                {"role": "user", "content": "Hi {{ name }}"},
            ],
        },
        "variables": [
            {"name": "name", "type": "string", "required": True, "default": None, "choices": None},
            {"name": "tone", "type": "string", "required": False, "default": None, "choices": None},
        ],
        "default_model": {"provider": "mock", "name": "echo", "version": None},
        "default_parameters": {
            "temperature": 0.2, "top_p": 1.0, "max_tokens": None, "seed": None, "stop": None,
        },
        "commit_message": "chat form",
        "author": "ann lee",
        "variables_report": {"undeclared": [], "unused": [], "error": None},
        "origin": None,  # written by hand, not saved from optimisation advice
        # The original API's names, which its frontend reads.
        "version": None,
        "content": "system: Be {{ tone }}.\n\nuser: Hi {{ name }}",
        "updated_at": current["created_at"],
    }  # fmt: skip
    assert [(v["id"], v["number"], v["label"]) for v in greeting["versions"]] == [
        (str(g3.version_id), 3, "v3"),
        (str(g2.version_id), 2, None),
        (str(g1.version_id), 1, "v1"),
    ]
    translator, summarize = body[1], body[2]
    assert translator["class"] is None and translator["archived"] is False
    assert [t["name"] for t in translator["tags"]] == ["email"]
    assert translator["labels"] == {"latest": 1}
    assert summarize["class"]["name"] == "news" and summarize["tags"] == []
    assert summarize["current_version"]["variables_report"] == {
        "undeclared": ["article"],
        "unused": ["length"],
        "error": None,
    }

    one = await api.client.get(f"{PROMPTS}/{world.greeting.prompt_id}")
    assert one.status_code == 200 and one.json() == greeting
    assert one.headers["ETag"] == '"10"'


async def test_filters_by_class_tag_label_and_archived_state(api, world) -> None:
    assert await listed(api, class_name="demo") == (["greeting"], "1")
    assert await listed(api, class_name="NEWS") == (["summarize article"], "1")
    assert await listed(api, class_id=str(world.news.class_id)) == (["summarize article"], "1")
    assert await listed(api, class_name="nope") == ([], "0")
    assert await listed(api, tag="email") == (["greeting", "translator"], "2")
    assert await listed(api, tag=["email", "onboarding"]) == (["greeting"], "1")
    assert await listed(api, tag=["email", "nope"]) == ([], "0")
    assert await listed(api, tag="legacy") == ([], "0")
    assert await listed(api, label="production") == (["greeting"], "1")
    assert await listed(api, label="latest") == (
        ["greeting", "translator", "summarize article"],
        "3",
    )
    assert await listed(api, archived="true") == (["old greeting"], "1")
    assert await listed(api, archived="all", label="production") == (
        ["greeting", "old greeting"],
        "2",
    )
    assert await listed(api, archived="all", tag="onboarding", class_name="demo") == (
        ["greeting", "old greeting"],
        "2",
    )
    bad = await api.client.get(PROMPTS, params={"archived": "maybe"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "archived"
    bad = await api.client.get(PROMPTS, params={"class_id": "nope"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "class_id"


async def test_sorts(api, world) -> None:
    everything = {"archived": "all"}
    assert await listed(api, sort="name") == (
        ["greeting", "summarize article", "translator"],
        "3",
    )
    assert await listed(api, sort="-name", **everything) == (
        ["translator", "summarize article", "old greeting", "greeting"],
        "4",
    )
    created = ["greeting", "summarize article", "translator", "old greeting"]
    assert (await listed(api, sort="created_at", **everything))[0] == created
    assert (await listed(api, sort="-created_at", **everything))[0] == created[::-1]
    assert (await listed(api, sort="updated_at"))[0] == [
        "summarize article",
        "translator",
        "greeting",
    ]
    for bad in ("newest", "updated", "+name"):
        response = await api.client.get(PROMPTS, params={"sort": bad})
        assert response.status_code == 422, bad
        detail = response.json()["errors"][0]
        assert detail["field"] == "sort" and "-updated_at" in detail["msg"]


async def test_offset_paging_and_bad_paging(api, world) -> None:
    page = await api.client.get(PROMPTS, params={"limit": 1, "offset": 1})
    assert names(page.json()) == ["translator"] and page.headers["X-Total-Count"] == "3"
    past_end = await api.client.get(PROMPTS, params={"limit": 10, "offset": 5})
    assert past_end.json() == [] and past_end.headers["X-Total-Count"] == "3"
    assert "X-Next-Cursor" not in past_end.headers
    bad_pages = (({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"offset": -1}, "offset"))
    for params, field in bad_pages:
        bad = await api.client.get(PROMPTS, params=params)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field


SEARCHES = [
    ("greting", ["greeting"]),  # a typo
    ("GREETING", ["greeting"]),
    ("bob", ["summarize article"]),  # author
    ("ann le", ["greeting"]),  # author, partial (old greeting is archived)
    ("news", ["summarize article"]),  # class name
    ("transl", ["translator"]),  # prefix
    ("marize", ["summarize article"]),  # substring
    ("50%_off", []),  # LIKE wildcards are taken literally
    ("zzzzqqq", []),
]


async def test_fuzzy_search_on_name_author_and_class(api, world) -> None:
    for q, expected in SEARCHES:
        response = await api.client.get(PROMPTS, params={"q": q})
        assert response.status_code == 200
        assert names(response.json()) == expected, q
        assert response.headers["X-Total-Count"] == str(len(expected)), q
    found, _ = await listed(api, q="greeting", archived="all")
    assert found == ["greeting", "old greeting"]  # the exact name first
    too_long = await api.client.get(PROMPTS, params={"q": "x" * 201})
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "q"
    nul = await api.client.get(f"{PROMPTS}?q=a%00b")  # PostgreSQL cannot compare with NUL
    assert nul.status_code == 422, nul.text
    assert nul.json()["errors"][0]["loc"] == ["query", "q"]
    assert nul.json()["errors"][0]["type"] == "nul_character"


async def test_search_follows_a_class_rename(api, world, publisher) -> None:
    renamed = PromptClassUpdated(class_id=world.demo.class_id, name="showcase", description="")
    await publisher.publish([renamed])
    await api.applied(renamed, publisher.version(renamed))
    assert await listed(api, q="showcase") == (["greeting"], "1")
    assert await listed(api, q="showcse") == (["greeting"], "1")
    assert await listed(api, class_name="showcase") == (["greeting"], "1")
    assert await listed(api, q="demo") == ([], "0")
    body = (await api.client.get(f"{PROMPTS}/{world.greeting.prompt_id}")).json()
    assert body["class"]["name"] == "showcase"


async def test_unknown_prompt_is_404_naming_it(api, world) -> None:
    unknown = uuid.uuid4()
    response = await api.client.get(f"{PROMPTS}/{unknown}")
    assert response.status_code == 404
    detail = response.json()["errors"][0]
    assert detail["field"] == "prompt_id" and str(unknown) in detail["msg"]
    malformed = await api.client.get(f"{PROMPTS}/not-a-uuid")
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["field"] == "prompt_id"


async def test_counts_stay_exact_whatever_the_events_say(api, world, publisher) -> None:
    """The unfiltered totals come from the projection's counters: they move only by the
    prompts whose archived flag really flips (a second archive, or restoring a prompt that is
    not archived, moves nothing)."""
    odd = [
        PromptArchived(prompt_id=world.greeting.prompt_id),
        PromptArchived(prompt_id=world.greeting.prompt_id),
        PromptRestored(prompt_id=world.summarize.prompt_id),
    ]
    await publisher.publish(odd)
    await api.applied(odd[1], publisher.version(odd[1]))
    await api.applied(odd[2], publisher.version(odd[2]))
    # Every event counts as a change: the odd restore made summarize the latest.
    assert await listed(api) == (["summarize article", "translator"], "2")
    assert await listed(api, archived="true", sort="name") == (["greeting", "old greeting"], "2")
    assert (await listed(api, archived="all"))[1] == "4"
    assert (await listed(api, archived="all", label="latest"))[1] == "4"  # counted rows agree


async def test_the_list_built_by_postgresql_is_what_prompt_out_renders(api, world) -> None:
    """The prompt list's JSON is built by PostgreSQL (projections.prompt_json): for the world's
    prompts (built from events: chat and text templates, classes, tags, labels, archived) and
    rows with stored JSON at the edges (keys left to their defaults, unknown keys, no version,
    an unknown tag) it equals PromptOut's own rendering of the same rows."""
    import json
    from datetime import UTC, datetime

    from pydantic import TypeAdapter
    from sqlalchemy import insert, true

    from promptworks_contracts.projects import DEFAULT_PROJECT
    from query_api.projections.prompt_documents import render_statement
    from query_api.queries.prompt_docs import documents, prompt_out
    from query_api.schemas.prompts import PromptOut
    from query_api.tables import prompt_versions, prompts

    at = datetime(2021, 5, 6, 7, 8, 9, tzinfo=UTC)
    edge, empty, version_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    version = {
        "version_id": version_id,
        "prompt_id": edge,
        "number": 1,
        "label": "v1",
        "template": {"kind": "chat", "messages": [{"role": "user", "content": "a\nb"}], "x": 1},
        "variables": [{"name": "tone"}, {"name": "n", "type": "enum", "choices": [1, "a"]}],
        "default_model": {"provider": "openai", "name": "gpt", "extra": True},
        "default_parameters": {"max_tokens": 5},
        "commit_message": 'first "one"',
        "author": "zoë",
        "created_at": datetime(2021, 5, 6, 7, 8, 9, 5, tzinfo=UTC),
        "variables_report": {"undeclared": [], "unused": ["tone"]},
        "origin": {"advice_id": str(uuid.uuid4()), "run_id": str(uuid.uuid4())},
    }
    prompt: dict[str, Any] = {
        "project_id": DEFAULT_PROJECT,
        "description": "edge",
        "author": "zoë",
        "class_id": None,
        "labels": {},
        "archived": False,
        "created_at": at,
        "updated_at": at,
        "stream_version": 1,
    }
    async with api.sessions() as session, session.begin():
        await session.execute(
            insert(prompts).values(
                [
                    {
                        **prompt,
                        "prompt_id": edge,
                        "name": "edge",
                        "class_id": uuid.uuid4(),  # a class not applied yet
                        "tag_ids": [uuid.uuid4()],  # a tag not applied yet
                        "labels": {"latest": 7, "production": 1},
                        "current_version_id": version_id,
                        "current_version_number": 1,
                        "version_count": 1,
                    },
                    {
                        **prompt,
                        "prompt_id": empty,
                        "name": "no versions",
                        "tag_ids": [],
                        "current_version_id": None,
                        "current_version_number": None,
                        "version_count": 0,
                    },
                ]
            )
        )
        await session.execute(insert(prompt_versions).values(version))
        # Rows written around the projection: their list documents rendered as it renders them.
        await session.execute(render_statement(true()))
    response = await api.client.get(PROMPTS, params={"archived": "all", "limit": 200})
    assert response.status_code == 200
    listed = response.json()
    async with api.sessions() as session:
        rows = {row.prompt_id: row for row in (await session.execute(documents())).all()}
    assert len(listed) == len(rows) >= 6
    expected = [prompt_out(rows[uuid.UUID(item["id"])]) for item in listed]
    assert listed == json.loads(TypeAdapter(list[PromptOut]).dump_json(expected))
    by_id = {item["id"]: item for item in listed}
    assert by_id[str(edge)]["labels"] == {"latest": 1, "production": 1}
    assert by_id[str(edge)]["current_version"]["content"] == "user: a\nb"
    assert by_id[str(edge)]["current_version"]["created_at"] == "2021-05-06T07:08:09.000005Z"
    assert by_id[str(empty)]["current_version"] is None and by_id[str(empty)]["versions"] == []


async def test_stored_documents_are_what_the_list_built_per_read(api, world, publisher) -> None:
    """Each prompt's stored list document (``prompt_documents``, kept by the projection) is
    byte for byte the document built from its rows at read time (``prompt_json``), after the
    world (every prompt event type; classes and tags applied after the prompts naming them)
    and after changes to every other part: a class and a tag renamed, a label removed, the
    metadata edited, a class deleted under a prompt."""
    import json

    greeting = world.greeting
    more = [
        PromptClassUpdated(class_id=world.demo.class_id, name="showcase", description=""),
        PromptTagUpdated(tag_id=world.onboarding.tag_id, name="welcome", color="#AA0000"),
        PromptLabelRemoved(
            prompt_id=greeting.prompt_id, label="staging", previous_version_number=3
        ),
        PromptMetadataEdited(
            prompt_id=world.summarize.prompt_id,
            name="summarize news",
            author="bob stone",
            description="short",
            class_id=world.news.class_id,
            tag_ids=[world.legacy.tag_id],
            changed=["name", "description", "tag_ids"],
        ),
        PromptClassDeleted(class_id=world.news.class_id),
    ]
    await publisher.publish(more)
    for event in more:
        await api.applied(event, publisher.version(event))
    stored, expected = await stored_and_built(api)
    assert stored == expected and len(stored) == 4
    documents = {d["name"]: d for d in map(json.loads, stored.values())}
    assert documents["greeting"]["class"]["name"] == "showcase"
    assert [t["name"] for t in documents["greeting"]["tags"]] == ["welcome", "email"]
    assert "staging" not in documents["greeting"]["labels"]
    news = documents["summarize news"]
    assert news["class"] == {"id": str(world.news.class_id), "name": None}
    assert news["tags"] == [{"id": str(world.legacy.tag_id), "name": "legacy", "color": "#999999"}]
    listed = (await api.client.get(PROMPTS, params={"archived": "all", "sort": "name"})).json()
    names_listed = [item["name"] for item in listed]
    assert names_listed == ["greeting", "old greeting", "summarize news", "translator"]


async def stored_and_built(api: Any) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, str]]:
    """Each prompt's stored list document, and the one the list would build from its rows now."""
    from sqlalchemy import select

    from query_api.projections import prompt_json
    from query_api.tables import prompt_classes, prompt_documents, prompt_versions, prompts

    current = prompt_versions.alias("cv")
    built = select(prompts.c.prompt_id, prompt_json.document(current)).select_from(
        prompts.outerjoin(
            prompt_classes, prompt_classes.c.class_id == prompts.c.class_id
        ).outerjoin(current, current.c.version_id == prompts.c.current_version_id)
    )
    async with api.sessions() as session:
        expected = dict((await session.execute(built)).all())
        stored = dict((await session.execute(select(prompt_documents))).all())
    return stored, expected


def received(publisher: Any, event: Any) -> Any:
    """``event`` as a consumer would receive it, next in its stream (not published: the test
    applies it through the router itself)."""
    from promptworks_eventkit.messages import ReceivedEvent
    from tests.support.kafka import envelope_for

    key = (event.topic, event.stream_id())
    publisher.versions[key] = publisher.versions.get(key, 0) + 1
    return ReceivedEvent(event.topic, 0, 0, envelope_for(event, publisher.versions[key]), event)


async def race(api: Any, publisher: Any, first: Any, second: Any) -> None:
    """Two consumers' batches at once, through the projection's router in two transactions:
    ``first`` applied and rendered, its transaction held open until ``second`` waits for it (a
    lock) or is done; then both commit."""
    import asyncio

    from sqlalchemy import text

    from query_api.projections import build_router

    router = build_router()
    waits = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )

    async def apply_second() -> None:
        async with api.sessions() as session, session.begin():
            await router(session, [received(publisher, second)])

    async with api.sessions() as held, held.begin():
        await router(held, [received(publisher, first)])
        task = asyncio.create_task(apply_second())
        async with api.sessions() as watcher:
            for _ in range(200):
                if task.done() or (await watcher.execute(waits)).scalar_one():
                    break
                await asyncio.sleep(0.05)
    await task


async def test_the_render_lock_keeps_a_concurrent_rename_and_edit_consistent(
    api, world, publisher
) -> None:
    """A class rename and a prompt's edit into that class, applied at once by two consumers,
    in both orders (``race``). Without the render lock (ADR 0027) the second's render does not
    see the first's uncommitted change and the prompt keeps the class's old name (checked by
    hand, both orders); with it, the stored documents are what the list builds from the
    rows."""
    import json

    def into_demo(prompt: Any) -> PromptMetadataEdited:
        return PromptMetadataEdited(
            prompt_id=prompt.prompt_id,
            name=prompt.name,
            author=prompt.author,
            description="",
            class_id=world.demo.class_id,
            tag_ids=[],
            changed=["class_id"],
        )

    async def class_names() -> dict[str, str]:
        stored, expected = await stored_and_built(api)
        assert stored == expected and len(stored) == 4
        documents = map(json.loads, stored.values())
        return {d["name"]: d["class"]["name"] for d in documents if d["class"]}

    rename = PromptClassUpdated(class_id=world.demo.class_id, name="showcase", description="")
    await race(api, publisher, into_demo(world.summarize), rename)  # the prompt's batch first
    assert (await class_names())["summarize article"] == "showcase"
    again = PromptClassUpdated(class_id=world.demo.class_id, name="exhibit", description="")
    await race(api, publisher, again, into_demo(world.translator))  # the rename first
    named = await class_names()
    assert named["translator"] == named["summarize article"] == named["greeting"] == "exhibit"


async def lexicon(api: Any) -> tuple[set[str], set[str]]:
    """The search lexicon, and every word the prompts have."""
    from sqlalchemy import func, select

    from query_api.tables import prompt_words, prompts

    async with api.sessions() as session:
        words = set((await session.scalars(select(prompt_words.c.word))).all())
        used = set((await session.scalars(select(func.unnest(prompts.c.words)))).all())
    return words, used


async def test_the_lexicon_forgets_the_words_no_prompt_has(api, world, publisher) -> None:
    """``prompt_words`` holds exactly the words the prompts have (ADR 0027): an edit's dropped
    words go, a word another prompt (an archived one too) still has stays, and a prompt
    created at the same time as an edit dropping its word (two consumers, both orders, the
    render lock) keeps it findable."""
    from promptworks_contracts.events import PromptCreated

    words, used = await lexicon(api)
    assert words == used and "greeting" in words and "greeter" not in words  # edited in world

    def renamed(prompt: Any, name: str, author: str) -> PromptMetadataEdited:
        return PromptMetadataEdited(
            prompt_id=prompt.prompt_id,
            name=name,
            author=author,
            class_id=prompt.class_id,
            tag_ids=list(prompt.tag_ids),
            changed=["name", "author"],
        )

    edits = [
        renamed(world.summarize, "summarize digest", "bob stone"),
        renamed(world.greeting, "greeting", "ann"),  # "lee": old greeting's (archived) author
    ]
    await publisher.publish(edits)
    for event in edits:
        await api.applied(event, publisher.version(event))
    words, used = await lexicon(api)
    assert words == used and "article" not in words and {"digest", "lee"} <= words
    assert await listed(api, q="articel") == ([], "0")
    assert await listed(api, q="diges") == (["summarize digest"], "1")
    assert await listed(api, q="lee", archived="all") == (["old greeting"], "1")

    from query_api.projections import build_router

    for order, word in enumerate(("digest", "brief")):
        async with api.sessions() as session, session.begin():  # summarize has the word
            edit = renamed(world.summarize, f"summarize {word}", "bob stone")
            await build_router()(session, [received(publisher, edit)])
        drop = renamed(world.summarize, "summarize", "bob stone")
        create = PromptCreated(prompt_id=uuid.uuid4(), name=f"{word} maker", author="eve")
        # Without the exclusive lock the first order loses the word (checked by hand); in the
        # second, the creation's insert waits for the deleted row's transaction anyway.
        await race(api, publisher, *((drop, create) if order else (create, drop)))
        words, used = await lexicon(api)
        assert words == used and word in words, word
        assert await listed(api, q=word) == ([f"{word} maker"], "1"), word
