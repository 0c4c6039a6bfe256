"""The one-word search's index-order path (``queries.prompt_search``, ADR 0032) against the path
that scores every match (``prompt_list.list_prompts``): the same pages, counts and cursors, and
the tokens the projection keeps equal to tokens made afresh from the rows."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from promptworks_contracts.events import (
    PromptArchived,
    PromptClassCreated,
    PromptCreated,
    PromptMetadataEdited,
    PromptRestored,
    PromptVersionCreated,
)
from promptworks_contracts.values import TextTemplate
from query_api.projections.prompt_tokens import index_all
from query_api.queries import prompt_search
from query_api.queries.prompt_filters import PromptFilters
from query_api.queries.prompt_list import Page, list_prompts
from query_api.tables import prompt_tokens

pytestmark = pytest.mark.integration

PROMPTS = "/api/v1/prompts"
NAMES = [
    "review",  # a name that is one word: first among the prompts with "review"
    "Review",
    "code review",
    "code reviewer helper",
    "review the review",  # one word twice
    "customer support triage",
    "support",
    "supporter notes",
    "ticket summary",
    "summary of summaries",
    "summarizer",
    "complaint answer",
    "reviews digest",
]
AUTHORS = ["ann lee", "bob review", "carol", "dave support", "eve"]


async def publish_catalogue(api: Any, publisher: Any) -> dict[str, Any]:
    """Prompts over two classes, archived and restored, edited, with versions: every token
    kind and every change that moves a token or its keys."""
    support = PromptClassCreated(class_id=uuid.uuid4(), name="customer support")
    reviews = PromptClassCreated(class_id=uuid.uuid4(), name="review desk")
    created = [
        PromptCreated(
            prompt_id=uuid.uuid4(),
            name=NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f" {i}"),
            author=AUTHORS[i % len(AUTHORS)],
            class_id=(support, reviews, None)[i % 3].class_id if i % 3 < 2 else None,
        )
        for i in range(3 * len(NAMES))
    ]
    later: list[Any] = []
    for i, prompt in enumerate(created):
        if i % 4 == 0:
            later.append(
                PromptVersionCreated(
                    prompt_id=prompt.prompt_id,
                    version_id=uuid.uuid4(),
                    number=1,
                    template=TextTemplate(text="hello"),
                )
            )
        if i % 5 == 1:
            later.append(PromptArchived(prompt_id=prompt.prompt_id))
        if i % 10 == 1:
            later.append(PromptRestored(prompt_id=prompt.prompt_id))
    renamed, moved = created[2], created[5]
    later += [
        # "code review" loses "code" and "review", gains "audit"; its author changes too.
        PromptMetadataEdited(
            prompt_id=renamed.prompt_id,
            name="audit",
            description="",
            author="zed",
            class_id=renamed.class_id,
            tag_ids=[],
            changed=["name", "author"],
        ),
        # Another class, then none: the class tokens follow.
        PromptMetadataEdited(
            prompt_id=moved.prompt_id,
            name=moved.name,
            description="",
            author=moved.author,
            class_id=None,
            tag_ids=[],
            changed=["class_id"],
        ),
    ]
    # Two rounds, so that the changes meet tokens already kept (one batch would index once).
    for events in ([support, reviews, *created], later):
        await publisher.publish(events)
        for prompt in created:
            await api.applied(prompt, publisher.version(prompt))
    return {"created": created, "renamed": renamed, "moved": moved}


async def both(api: Any, filters: PromptFilters, limit: int, offset: int) -> tuple[Page, Page]:
    fast = await prompt_search.relevance_page(api.app.state.hot_reads, filters, limit, offset, None)
    assert fast is not None, filters
    async with api.sessions() as session, session.begin():
        general = await list_prompts(session, filters, None, limit, offset, None)
    return fast, general


async def test_the_index_order_path_answers_as_the_scoring_path(api, publisher) -> None:
    await publish_catalogue(api, publisher)
    terms = [
        "review",  # substring of words, an exact name, a class name, an author's word
        "reviw",  # a typo: word similarity
        "REVIEW",
        "support",
        "suport",
        "summary",
        "sumary",
        "customer",  # a class's word and a prompt's
        "desk",  # a class's only
        "audit",  # a renamed prompt's new word
        "code",
        "complant",
        "zed",
        "nothing",
    ]
    compared = 0
    for term in terms:
        for archived in ("false", "true", "all"):
            for limit, offset in ((50, 0), (3, 0), (3, 2), (4, 9), (50, 200)):
                filters = PromptFilters(q=term, archived=archived)  # type: ignore[arg-type]
                fast, general = await both(api, filters, limit, offset)
                assert fast == general, (term, archived, limit, offset)
                compared += len(fast.items)
    assert compared > 300  # the cases found prompts, not only empty pages
    (review, _), (code, _) = [
        await both(api, PromptFilters(q=q), 50, 0) for q in ("review", "code")
    ]
    assert review.total >= 15 and json.loads(review.items[0])["name"].lower() == "review"
    assert "code review" not in [json.loads(item)["name"] for item in code.items]  # renamed


async def test_the_route_and_its_cursors_take_the_same_path(api, publisher) -> None:
    await publish_catalogue(api, publisher)
    whole = await api.client.get(PROMPTS, params={"q": "review", "limit": 200})
    expected = [item["id"] for item in whole.json()]
    ids: list[str] = []
    params: dict[str, Any] = {"q": "review", "limit": 4}
    while True:
        response = await api.client.get(PROMPTS, params=params)
        assert response.status_code == 200, response.text
        assert response.headers["X-Total-Count"] == str(len(expected))
        ids += [item["id"] for item in response.json()]
        if "X-Next-Cursor" not in response.headers:
            break
        params["cursor"] = response.headers["X-Next-Cursor"]
    assert ids == expected and len(ids) >= 15
    forged = await api.client.get(PROMPTS, params={"q": "review", "cursor": _key_cursor()})
    assert forged.status_code == 422 and forged.json()["errors"][0]["field"] == "cursor"


def _key_cursor() -> str:
    """A keyset cursor made for relevance (only a forged one is)."""
    fingerprint = PromptFilters(q="review").fingerprint()
    raw = json.dumps({"s": "relevance", "f": fingerprint, "k": ["x", str(uuid.uuid4())]})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def test_a_query_matching_too_many_words_takes_the_scoring_path(api, publisher) -> None:
    words = [f"zq{i:03d}" for i in range(prompt_search.MAX_TOKENS + 1)]
    created = [PromptCreated(prompt_id=uuid.uuid4(), name=word) for word in words]
    await publisher.publish(created)
    for prompt in created:
        await api.applied(prompt, 1)
    filters = PromptFilters(q="zq")
    assert await prompt_search.relevance_page(api.app.state.hot_reads, filters, 50, 0, None) is None
    response = await api.client.get(PROMPTS, params={"q": "zq"})
    assert response.headers["X-Total-Count"] == str(len(words))
    async with api.sessions() as session, session.begin():
        general = await list_prompts(session, filters, None, 50, 0, None)
    assert response.content == ("[" + ",".join(general.items) + "]").encode()


async def test_the_kept_tokens_are_the_tokens_of_the_rows(api, publisher) -> None:
    """What the projection kept, batch by batch, equals ``index_all`` from the final rows."""
    world = await publish_catalogue(api, publisher)
    t = prompt_tokens.c
    columns = [t.prompt_id, t.token, t.project_id, t.archived, t.name_is_token]
    columns += [t.name_length, t.updated_at]
    async with api.sessions() as session, session.begin():
        kept = set((await session.execute(select(*columns))).all())
        await index_all(session)
        made = set((await session.execute(select(*columns))).all())
        await session.rollback()
    assert kept == made and len(kept) > 100
    tokens_of = {row.token for row in kept if row.prompt_id == world["renamed"].prompt_id}
    assert "audit" in tokens_of and "code" not in tokens_of
    moved = {row.token for row in kept if row.prompt_id == world["moved"].prompt_id}
    assert not any(token.startswith("c:") for token in moved)
