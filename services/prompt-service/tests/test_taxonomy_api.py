"""Classes and tags through the HTTP API: create, rename, delete, detach (real PG and Kafka)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.integration


async def test_class_create_rename_and_delete_publish_their_events(service: Any) -> None:
    client = service.client
    created = await client.post(
        "/prompt-classes", json={"name": " support ", "description": "d"}, headers={"X-Actor": "a"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    class_id = body["class_id"]
    assert (body["name"], body["stream_version"], created.headers["ETag"]) == ("support", 1, '"1"')
    assert body["positions"] == [{"stream_id": class_id, "stream_version": 1}]
    path = f"/prompt-classes/{class_id}"
    renamed = await client.patch(
        path, json={"name": "helpdesk"}, headers={"X-Actor": "b", **service.if_match(1)}
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["description"]) == ("helpdesk", "d")
    same = await client.patch(path, json={"description": "d"})
    assert same.json()["positions"] == [] and same.json()["stream_version"] == 2
    deleted = await client.delete(path, headers={"X-Actor": "c"})
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    records = await service.published(3)
    assert [(r.envelope.type.split(".")[2], r.data["actor"], r.key) for r in records] == [
        ("created", "a", class_id),
        ("updated", "b", class_id),
        ("deleted", "c", class_id),
    ]
    assert (await client.patch(path, json={"name": "x"})).status_code == 404
    assert (await client.delete(path)).status_code == 404
    again = await client.post("/prompt-classes", json={"name": "helpdesk"})
    assert again.status_code == 201, "a deleted class frees its name"


async def test_class_errors_name_the_field(service: Any) -> None:
    client = service.client
    await client.post("/prompt-classes", json={"name": "taken"})
    other = (await client.post("/prompt-classes", json={"name": "other"})).json()
    duplicate = await client.post("/prompt-classes", json={"name": "taken"})
    assert duplicate.status_code == 409
    assert (service.error(duplicate)["field"], service.error(duplicate)["type"]) == (
        "name",
        "unique",
    )
    rename = await client.patch(f"/prompt-classes/{other['class_id']}", json={"name": "taken"})
    assert rename.status_code == 409 and service.error(rename)["type"] == "unique"
    blank = await client.post("/prompt-classes", json={"name": "  "})
    assert blank.status_code == 422 and service.error(blank)["field"] == "name"
    stale = await client.patch(
        f"/prompt-classes/{other['class_id']}", json={"name": "x"}, headers=service.if_match(5)
    )
    assert stale.status_code == 409 and stale.json()["current_version"] == 1
    unknown = await client.patch(f"/prompt-classes/{uuid.uuid4()}", json={"name": "x"})
    assert unknown.status_code == 404 and service.error(unknown)["field"] == "class_id"


async def test_class_in_use_is_409_and_detach_edits_every_prompt_in_one_transaction(
    service: Any,
) -> None:
    client = service.client
    ids = []
    for name in ("a", "b"):
        created = await client.post(
            "/prompts", json={"name": name, "class_name": "doomed", "content": "x"}
        )
        ids.append(created.json()["prompt_id"])
    class_id = created.json()["class_id"]
    await client.post(f"/prompts/{ids[1]}/archive")
    in_use = await client.delete(f"/prompt-classes/{class_id}")
    assert in_use.status_code == 409
    assert (service.error(in_use)["field"], service.error(in_use)["type"]) == ("class_id", "in_use")
    assert "2 prompt(s)" in service.error(in_use)["msg"]

    deleted = await client.delete(
        f"/prompt-classes/{class_id}", params={"detach": "true"}, headers={"X-Actor": "admin"}
    )
    assert deleted.status_code == 200, deleted.text
    body = deleted.json()
    assert sorted(body["detached_prompt_ids"]) == sorted(ids)
    streams = [p["stream_id"] for p in body["positions"]]
    assert sorted(streams[:2]) == sorted(ids) and streams[2] == class_id
    assert deleted.headers["ETag"] == '"2"'
    for prompt_id in ids:
        _, kind, data = (await service.stream(prompt_id))[-1]
        assert kind == "promptworks.prompt.metadata_edited.v1"
        assert (data["class_id"], data["changed"], data["actor"]) == (None, ["class_id"], "admin")
    assert (await service.stream(class_id))[-1][1] == "promptworks.prompt_class.deleted.v1"
    assert (await service.lookup_counts())["classes"] == 0
    clash = await client.post("/prompts", json={"name": "a", "content": "x"})
    assert clash.status_code == 409, "'a' is a prompt without a class now"
    gone = await client.patch(f"/prompts/{ids[0]}", json={"class_id": class_id})
    assert gone.status_code == 422 and service.error(gone)["type"] == "not_found"


async def test_detach_that_would_clash_names_refuses_and_writes_nothing(service: Any) -> None:
    client = service.client
    await client.post("/prompts", json={"name": "same", "content": "x"})
    created = await client.post(
        "/prompts", json={"name": "same", "class_name": "c", "content": "x"}
    )
    before = (await service.event_count(), await service.lookup_counts())
    response = await client.delete(
        f"/prompt-classes/{created.json()['class_id']}", params={"detach": True}
    )
    assert response.status_code == 409
    assert "'same'" in service.error(response)["msg"]
    assert (await service.event_count(), await service.lookup_counts()) == before


async def test_tag_create_recolour_and_errors(service: Any) -> None:
    client = service.client
    created = await client.post("/prompt-tags", json={"name": "prod", "color": "#12AB34"})
    assert created.status_code == 201, created.text
    tag = created.json()
    assert (tag["name"], tag["color"], tag["stream_version"]) == ("prod", "#12AB34", 1)
    path = f"/prompt-tags/{tag['tag_id']}"
    recoloured = await client.patch(path, json={"color": "#000000"}, headers=service.if_match(1))
    assert recoloured.status_code == 200 and recoloured.json()["color"] == "#000000"
    assert (await service.query("SELECT color FROM tags"))[0]["color"] == "#000000"
    for color in ("red", "#12345", "#GGGGGG", "#1234567"):
        bad = await client.post("/prompt-tags", json={"name": "x", "color": color})
        assert bad.status_code == 422, color
        assert (service.error(bad)["field"], service.error(bad)["type"]) == (
            "color",
            "string_pattern_mismatch",
        )
        assert "#RRGGBB" in service.error(bad)["msg"]
    bad_patch = await client.patch(path, json={"color": "blue"})
    assert bad_patch.status_code == 422 and service.error(bad_patch)["field"] == "color"
    duplicate = await client.post("/prompt-tags", json={"name": "prod", "color": "#000000"})
    assert duplicate.status_code == 409 and service.error(duplicate)["field"] == "name"
    too_long = await client.post("/prompt-tags", json={"name": "t" * 101, "color": "#000000"})
    assert too_long.status_code == 422 and service.error(too_long)["type"] == "string_too_long"
    assert (await client.delete(f"/prompt-tags/{uuid.uuid4()}")).status_code == 404
    kinds = [r.envelope.type for r in await service.published(2)]
    assert kinds == ["promptworks.prompt_tag.created.v1", "promptworks.prompt_tag.updated.v1"]


async def test_tag_in_use_is_409_unless_detached(service: Any) -> None:
    client = service.client
    tags = []
    for name in ("keep", "drop"):
        tags.append(await client.post("/prompt-tags", json={"name": name, "color": "#111111"}))
    keep, drop = (t.json()["tag_id"] for t in tags)
    prompt = await client.post(
        "/prompts", json={"name": "p", "tags": ["keep", "drop"], "content": "x"}
    )
    prompt_id = prompt.json()["prompt_id"]
    in_use = await client.delete(f"/prompt-tags/{drop}")
    assert in_use.status_code == 409
    assert (service.error(in_use)["field"], service.error(in_use)["type"]) == ("tag_id", "in_use")
    deleted = await client.delete(f"/prompt-tags/{drop}", params={"detach": "true"})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["detached_prompt_ids"] == [prompt_id]
    assert [p["stream_id"] for p in deleted.json()["positions"]] == [prompt_id, drop]
    _, kind, data = (await service.stream(prompt_id))[-1]
    assert (kind.split(".")[2], data["tag_ids"], data["changed"]) == (
        "metadata_edited",
        [keep],
        ["tag_ids"],
    )
    links = await service.query("SELECT tag_id FROM prompt_tags")
    assert [str(r["tag_id"]) for r in links] == [keep]
    unused = await client.delete(f"/prompt-tags/{drop}")
    assert unused.status_code == 404
    attach = await client.patch(f"/prompts/{prompt_id}", json={"tags": ["keep", "drop"]})
    assert attach.status_code == 422 and service.error(attach)["field"] == "tags.1"
