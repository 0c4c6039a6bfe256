"""Classes and tags with their prompt counts, and events of other aggregates out of order."""

from __future__ import annotations

import uuid

import pytest

from promptworks_contracts.events import (
    PromptClassCreated,
    PromptClassDeleted,
    PromptCreated,
    PromptTagCreated,
    PromptTagDeleted,
    PromptVersionCreated,
)
from promptworks_contracts.values import TextTemplate

pytestmark = pytest.mark.integration

API = "/api/v1"


async def test_classes_with_counts_that_exclude_archived_prompts(api, world) -> None:
    response = await api.client.get(f"{API}/prompt-classes")
    assert response.status_code == 200 and response.headers["X-Total-Count"] == "2"
    demo, news = response.json()
    greeting = (await api.client.get(f"{API}/prompts/{world.greeting.prompt_id}")).json()
    summarize = (await api.client.get(f"{API}/prompts/{world.summarize.prompt_id}")).json()
    assert demo == {
        "id": str(world.demo.class_id),
        "name": "demo",
        "description": "Demos",
        "prompt_count": 1,  # old greeting is archived
        "latest_prompt_updated_at": greeting["updated_at"],
        "created_at": demo["created_at"],
        "updated_at": demo["created_at"],
        "stream_version": 1,
    }
    assert news["prompt_count"] == 1 and news["description"] == "Articles"
    assert news["stream_version"] == 2 and news["updated_at"] > news["created_at"]
    assert news["latest_prompt_updated_at"] == summarize["updated_at"]
    one = await api.client.get(f"{API}/prompt-classes/{world.demo.class_id}")
    assert one.status_code == 200 and one.json() == demo

    searched = await api.client.get(f"{API}/prompt-classes", params={"q": "demos"})
    assert [c["name"] for c in searched.json()] == ["demo"]
    assert searched.headers["X-Total-Count"] == "1"
    paged = await api.client.get(f"{API}/prompt-classes", params={"limit": 1, "offset": 1})
    assert [c["name"] for c in paged.json()] == ["news"]
    missing = await api.client.get(f"{API}/prompt-classes/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "class_id"


async def test_tags_with_counts_in_the_original_shape(api, world) -> None:
    response = await api.client.get(f"{API}/prompt-tags")
    assert response.status_code == 200
    body = response.json()
    assert body["tagged_prompt_total"] == 2  # greeting and translator; old greeting is archived
    counts = [(t["name"], t["color"], t["prompt_count"]) for t in body["items"]]
    assert counts == [
        ("email", "#0000AA", 2),
        ("legacy", "#999999", 0),
        ("onboarding", "#12AB34", 1),
    ]
    one = await api.client.get(f"{API}/prompt-tags/{world.email.tag_id}")
    assert one.status_code == 200 and one.json() == body["items"][0]
    missing = await api.client.get(f"{API}/prompt-tags/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "tag_id"


async def test_deleted_classes_and_tags_disappear(api, world, publisher) -> None:
    deleted = [
        PromptTagDeleted(tag_id=world.legacy.tag_id),
        PromptClassDeleted(class_id=world.news.class_id),
    ]
    await publisher.publish(deleted)
    for event in deleted:
        await api.applied(event, publisher.version(event))
    tags = (await api.client.get(f"{API}/prompt-tags")).json()
    assert [t["name"] for t in tags["items"]] == ["email", "onboarding"]
    classes = (await api.client.get(f"{API}/prompt-classes")).json()
    assert [c["name"] for c in classes] == ["demo"]
    gone = await api.client.get(f"{API}/prompt-classes/{world.news.class_id}")
    assert gone.status_code == 404


async def test_names_show_up_when_classes_and_tags_arrive_after_their_prompt(
    api, publisher
) -> None:
    """Different aggregates, different partitions: a prompt may be applied before the class and
    the tags it names. Nothing is dropped meanwhile, and the names appear once they arrive."""
    support = PromptClassCreated(class_id=uuid.uuid4(), name="support")
    urgent = PromptTagCreated(tag_id=uuid.uuid4(), name="urgent", color="#FF0000")
    later = PromptTagCreated(tag_id=uuid.uuid4(), name="later", color="#00FF00")
    prompt = PromptCreated(
        prompt_id=uuid.uuid4(),
        name="triage",
        class_id=support.class_id,
        tag_ids=[urgent.tag_id, later.tag_id],
    )
    first = PromptVersionCreated(
        prompt_id=prompt.prompt_id,
        version_id=uuid.uuid4(),
        number=1,
        template=TextTemplate(text="Triage {{ ticket }}"),
    )
    await publisher.publish([prompt, first])
    await api.applied(prompt, 2)
    url = f"{API}/prompts/{prompt.prompt_id}"
    early = (await api.client.get(url)).json()
    assert early["class"] == {"id": str(support.class_id), "name": None}
    assert early["tags"] == [
        {"id": str(urgent.tag_id), "name": None, "color": None},
        {"id": str(later.tag_id), "name": None, "color": None},
    ]
    assert [p["name"] for p in (await api.client.get(f"{API}/prompts")).json()] == ["triage"]
    assert (await api.client.get(f"{API}/prompts", params={"tag": "urgent"})).json() == []

    await publisher.publish([later, support, urgent])
    for event in (later, support, urgent):
        await api.applied(event, 1)
    body = (await api.client.get(url)).json()
    assert body["class"] == {"id": str(support.class_id), "name": "support"}
    assert [(t["name"], t["color"]) for t in body["tags"]] == [
        ("urgent", "#FF0000"),
        ("later", "#00FF00"),
    ]
    found = await api.client.get(f"{API}/prompts", params={"tag": "urgent", "q": "suport"})
    assert [p["name"] for p in found.json()] == ["triage"]
    classes = (await api.client.get(f"{API}/prompt-classes")).json()
    assert [(c["name"], c["prompt_count"]) for c in classes] == [("support", 1)]
