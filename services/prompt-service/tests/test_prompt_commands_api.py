"""Editing, labels, rollback, archive and restore through the HTTP API (real PostgreSQL, Kafka)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.integration

EDITED = "promptworks.prompt.metadata_edited.v1"


async def make_prompt(service: Any, versions: int = 1, **fields: Any) -> dict[str, Any]:
    client = service.client
    payload = {"name": f"p-{uuid.uuid4().hex[:6]}", "content": "v1", **fields}
    created: dict[str, Any] = (await client.post("/prompts", json=payload)).json()
    for n in range(2, versions + 1):
        await client.post(f"/prompts/{created['prompt_id']}/versions", json={"content": f"v{n}"})
    return created


async def test_patch_edits_metadata_and_a_no_op_writes_nothing(service: Any) -> None:
    client = service.client
    prompt = await make_prompt(service, class_name="old")
    path = f"/prompts/{prompt['prompt_id']}"
    red = (await client.post("/prompt-tags", json={"name": "red", "color": "#FF0000"})).json()
    response = await client.patch(
        path,
        json={"name": "renamed", "description": "d", "tags": ["red"], "message": "tidy"},
        headers={"X-Actor": "bo", **service.if_match(2)},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["description"], body["tag_ids"]) == ("renamed", "d", [red["tag_id"]])
    assert body["positions"] == [{"stream_id": prompt["prompt_id"], "stream_version": 3}]
    assert response.headers["ETag"] == '"3"'
    _, kind, data = (await service.stream(prompt["prompt_id"]))[-1]
    assert kind == EDITED and data["changed"] == ["name", "description", "tag_ids"]
    assert (data["actor"], data["message"], data["class_id"]) == ("bo", "tidy", prompt["class_id"])

    same = await client.patch(path, json={"name": "renamed", "tag_ids": [red["tag_id"]]})
    assert same.status_code == 200
    assert same.json()["positions"] == [] and same.json()["stream_version"] == 3
    assert len(await service.stream(prompt["prompt_id"])) == 3


async def test_patch_moves_between_classes_creating_a_new_one(service: Any) -> None:
    client = service.client
    prompt = await make_prompt(service, class_name="old")
    path = f"/prompts/{prompt['prompt_id']}"
    moved = await client.patch(path, json={"class_name": "new"})
    assert moved.status_code == 200, moved.text
    new_class = moved.json()["class_id"]
    assert new_class not in (None, prompt["class_id"])
    assert [p["stream_id"] for p in moved.json()["positions"]] == [new_class, prompt["prompt_id"]]
    cleared = await client.patch(path, json={"class_id": None})
    assert cleared.json()["class_id"] is None
    rows = await service.query("SELECT class_id FROM prompt_names")
    assert [r["class_id"] for r in rows] == [None]


async def test_patch_errors_name_the_field(service: Any) -> None:
    client = service.client
    taken = await make_prompt(service, name="taken")
    prompt = await make_prompt(service)
    path = f"/prompts/{prompt['prompt_id']}"
    cases = [
        ({"name": "taken"}, 409, "name", "unique"),
        ({"name": " "}, 422, "name", "string_pattern_mismatch"),
        ({"class_id": str(uuid.uuid4())}, 422, "class_id", "not_found"),
        ({"class_name": "fresh", "tags": ["none"]}, 422, "tags.0", "not_found"),
        ({"unknown": 1}, 422, "unknown", "extra_forbidden"),
    ]
    for body, status, field, rule in cases:
        response = await client.patch(path, json=body)
        assert response.status_code == status, response.text
        assert (service.error(response)["field"], service.error(response)["type"]) == (field, rule)
    stale = await client.patch(path, json={"name": "x"}, headers=service.if_match(1))
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    missing = await client.patch(f"/prompts/{uuid.uuid4()}", json={"name": "x"})
    assert missing.status_code == 404
    assert len(await service.stream(prompt["prompt_id"])) == 2
    assert len(await service.stream(taken["prompt_id"])) == 2
    assert (await service.lookup_counts())["classes"] == 0, "class 'fresh' was rolled back"


async def test_put_edits_adds_a_version_and_rolls_back_in_one_append(service: Any) -> None:
    client = service.client
    prompt = await make_prompt(service, versions=2)
    stream = await service.stream(prompt["prompt_id"])
    first_version_id = stream[1][2]["version_id"]
    response = await client.put(
        f"/prompts/{prompt['prompt_id']}",
        json={
            "description": "now with three",
            "version": "v3",
            "content": "three {{ x }}",
            "activate_version_id": first_version_id,
            "message": "ship it, but stay on v1",
        },
        headers=service.if_match(3),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["version_number"], body["current_version"], body["latest_version"]) == (3, 1, 3)
    assert body["positions"] == [{"stream_id": prompt["prompt_id"], "stream_version": 6}]
    assert [w["type"] for w in body["warnings"]] == ["undeclared_variable"]
    kinds = [kind.split(".")[2] for _, kind, _ in (await service.stream(prompt["prompt_id"]))[3:]]
    assert kinds == ["metadata_edited", "version_created", "current_version_set"]

    orphan = await client.put(f"/prompts/{prompt['prompt_id']}", json={"version": "v4"})
    assert orphan.status_code == 422
    assert (service.error(orphan)["field"], service.error(orphan)["type"]) == ("content", "missing")
    unknown = await client.put(
        f"/prompts/{prompt['prompt_id']}", json={"activate_version_id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 422
    assert service.error(unknown)["field"] == "activate_version_id"


async def test_labels_move_stay_and_go(service: Any) -> None:
    client = service.client
    prompt = await make_prompt(service, versions=2)
    path = f"/prompts/{prompt['prompt_id']}/labels/production"
    first = await client.put(path, json={"version_number": 1, "message": "go"})
    assert first.status_code == 200, first.text
    assert first.json()["labels"] == {"production": 1}
    stream = await service.stream(prompt["prompt_id"])
    second_id = stream[2][2]["version_id"]
    moved = await client.put(path, json={"version_id": second_id}, headers=service.if_match(4))
    assert moved.json()["labels"] == {"production": 2}
    same = await client.put(path, json={"version_number": 2})
    assert same.status_code == 200 and same.json()["positions"] == []
    removed = await client.delete(path)
    assert removed.status_code == 200 and removed.json()["labels"] == {}
    kinds = [(kind.split(".")[2], data.get("previous_version_number")) for _, kind, data in
             (await service.stream(prompt["prompt_id"]))[3:]]  # fmt: skip
    assert kinds == [("label_moved", None), ("label_moved", 1), ("label_removed", 2)]


@pytest.mark.parametrize(
    ("label", "body", "status", "field", "rule"),
    [
        ("latest", {"version_number": 1}, 422, "label", "reserved"),
        ("Prod!", {"version_number": 1}, 422, "label", "string_pattern_mismatch"),
        ("production", {"version_number": 7}, 422, "version_number", "not_found"),
        ("production", {"version_id": str(uuid.uuid4())}, 422, "version_id", "not_found"),
        ("production", {}, 422, "version_number", "missing"),
        ("production", {"version_number": 0}, 422, "version_number", "greater_than_equal"),
        ("production", {"version_number": True}, 422, "version_number", "int_type"),
    ],
)
async def test_label_errors_name_the_field(
    service: Any, label: str, body: dict[str, Any], status: int, field: str, rule: str
) -> None:
    prompt = await make_prompt(service)
    response = await service.client.put(f"/prompts/{prompt['prompt_id']}/labels/{label}", json=body)
    assert response.status_code == status, response.text
    assert (service.error(response)["field"], service.error(response)["type"]) == (field, rule)


async def test_removing_an_unknown_label_is_404_naming_it(service: Any) -> None:
    prompt = await make_prompt(service)
    response = await service.client.delete(f"/prompts/{prompt['prompt_id']}/labels/staging")
    assert response.status_code == 404
    assert (service.error(response)["field"], service.error(response)["type"]) == (
        "label",
        "not_found",
    )


async def test_rollback_sets_the_current_version(service: Any) -> None:
    client = service.client
    prompt = await make_prompt(service, versions=3)
    path = f"/prompts/{prompt['prompt_id']}/rollback"
    rolled = await client.post(path, json={"version_number": 1, "message": "v3 was bad"})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["current_version"] == 1 and rolled.json()["latest_version"] == 3
    again = await client.post(path, json={"version_number": 1})
    assert again.status_code == 200 and again.json()["positions"] == []
    unknown = await client.post(path, json={"version_number": 4})
    assert unknown.status_code == 422 and service.error(unknown)["field"] == "version_number"
    _, kind, data = (await service.stream(prompt["prompt_id"]))[-1]
    assert kind == "promptworks.prompt.current_version_set.v1"
    assert (data["version_number"], data["previous_version_number"]) == (1, 3)
    assert data["message"] == "v3 was bad"


async def test_archive_restore_and_writes_on_an_archived_prompt(service: Any) -> None:
    client = service.client
    prompt = await make_prompt(service)
    path = f"/prompts/{prompt['prompt_id']}"
    archived = await client.post(f"{path}/archive", json={"message": "old"})
    assert archived.status_code == 200 and archived.json()["archived"] is True
    for again in (client.post(f"{path}/archive"), client.delete(path)):
        response = await again
        assert response.status_code == 409
        assert service.error(response)["type"] == "already_archived"
    writes = [
        client.post(f"{path}/versions", json={"content": "x"}),
        client.patch(path, json={"description": "x"}),
        client.put(f"{path}/labels/production", json={"version_number": 1}),
        client.post(f"{path}/rollback", json={"version_number": 1}),
    ]
    for write in writes:
        response = await write
        assert response.status_code == 409, response.text
        assert (service.error(response)["field"], service.error(response)["type"]) == (
            "prompt_id",
            "archived",
        )
    restored = await client.post(f"{path}/restore")
    assert restored.status_code == 200 and restored.json()["archived"] is False
    not_archived = await client.post(f"{path}/restore", json={})
    assert not_archived.status_code == 409 and service.error(not_archived)["type"] == "not_archived"
    deleted = await client.delete(path, headers={"X-Actor": "cleaner"})
    assert deleted.status_code == 200 and deleted.json()["archived"] is True
    kinds = [(kind.split(".")[2], data["actor"]) for _, kind, data in
             (await service.stream(prompt["prompt_id"]))[2:]]  # fmt: skip
    assert kinds == [("archived", ""), ("restored", ""), ("archived", "cleaner")]
