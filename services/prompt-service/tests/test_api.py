"""Creating prompts and versions through the HTTP API, on real PostgreSQL and Kafka."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.integration

CREATED = "promptworks.prompt.created.v1"
VERSION = "promptworks.prompt.version_created.v1"
CLASS_CREATED = "promptworks.prompt_class.created.v1"


async def test_create_prompt_with_a_new_class_appends_both_streams_in_one_go(service: Any) -> None:
    response = await service.client.post(
        "/prompts",
        headers={"X-Actor": "ann lee"},
        json={
            "name": "greeting",
            "author": "ann",
            "class_name": "demo",
            "version": "v1",
            "content": 'Say hello to {{ name }} as JSON like {"greeting": "..."}',
            "variables": [{"name": "name"}],
            "commit_message": "first",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["version_number"] == 1 and body["stream_version"] == 2
    assert body["warnings"] == []
    assert response.headers["ETag"] == '"2"'
    prompt_id, class_id = body["prompt_id"], body["class_id"]
    assert body["positions"] == [
        {"stream_id": class_id, "stream_version": 1},
        {"stream_id": prompt_id, "stream_version": 2},
    ]

    records = await service.published(3)
    by_type = {r.envelope.type: r for r in records}
    assert set(by_type) == {CLASS_CREATED, CREATED, VERSION}
    assert by_type[CLASS_CREATED].key == class_id and by_type[CLASS_CREATED].data["name"] == "demo"
    assert by_type[CREATED].data["class_id"] == class_id and by_type[CREATED].data["tag_ids"] == []
    assert [by_type[t].envelope.streamversion for t in (CREATED, VERSION)] == [1, 2]
    assert {r.key for r in records if r.envelope.type != CLASS_CREATED} == {prompt_id}
    assert all(r.data["actor"] == "ann lee" for r in records)
    assert all(r.envelope.source == "/prompt-service" for r in records)
    assert by_type[VERSION].data["label"] == "v1"
    assert by_type[VERSION].data["commit_message"] == "first"


async def test_create_prompt_with_existing_class_and_tags_by_name_or_id(service: Any) -> None:
    client = service.client
    class_id = (await client.post("/prompt-classes", json={"name": "c"})).json()["class_id"]
    red = (await client.post("/prompt-tags", json={"name": "red", "color": "#FF0000"})).json()
    blue = (await client.post("/prompt-tags", json={"name": "blue", "color": "#0000ff"})).json()
    by_name = await client.post(
        "/prompts",
        json={"name": "a", "class_name": "c", "tags": ["red", "blue", "red"], "content": "x"},
    )
    assert by_name.status_code == 201, by_name.text
    assert by_name.json()["class_id"] == class_id
    assert set(by_name.json()["tag_ids"]) == {red["tag_id"], blue["tag_id"]}
    assert len(by_name.json()["positions"]) == 1, "an existing class is not created again"
    by_id = await client.post(
        "/prompts",
        json={"name": "b", "class_id": class_id, "tag_ids": [blue["tag_id"]], "content": "x"},
    )
    assert by_id.status_code == 201, by_id.text
    assert by_id.json()["tag_ids"] == [blue["tag_id"]]
    rows = await service.query("SELECT count(*) AS n FROM prompt_tags")
    assert rows[0]["n"] == 3


async def test_unknown_class_or_tag_is_422_naming_it_and_writes_nothing(service: Any) -> None:
    client = service.client
    await client.post("/prompt-tags", json={"name": "known", "color": "#000000"})
    before = (await service.event_count(), await service.lookup_counts())
    cases: list[tuple[dict[str, Any], str]] = [
        ({"class_id": str(uuid.uuid4())}, "class_id"),
        ({"class_name": "fresh", "tags": ["known", "nope"]}, "tags.1"),
        ({"tag_ids": [str(uuid.uuid4())]}, "tag_ids.0"),
    ]
    for extra, field in cases:
        response = await client.post("/prompts", json={"name": "p", "content": "x", **extra})
        assert response.status_code == 422, response.text
        assert (service.error(response)["field"], service.error(response)["type"]) == (
            field,
            "not_found",
        )
    # The second case had created class "fresh" before the tag failed: rolled back with it.
    assert (await service.event_count(), await service.lookup_counts()) == before


async def test_a_name_is_unique_within_its_class(service: Any) -> None:
    client = service.client
    payload = {"name": "dup", "class_name": "c", "content": "hi"}
    assert (await client.post("/prompts", json=payload)).status_code == 201
    again = await client.post("/prompts", json=payload)
    assert again.status_code == 409
    assert (service.error(again)["field"], service.error(again)["type"]) == ("name", "unique")
    assert "'dup'" in service.error(again)["msg"] and "class 'c'" in service.error(again)["msg"]
    other_class = await client.post("/prompts", json={**payload, "class_name": "d"})
    assert other_class.status_code == 201
    assert (await client.post("/prompts", json={"name": "dup", "content": "x"})).status_code == 201
    classless = await client.post("/prompts", json={"name": "dup", "content": "x"})
    assert classless.status_code == 409


async def test_a_failed_create_leaves_no_class_behind(service: Any) -> None:
    before = (await service.event_count(), await service.lookup_counts())
    # Class "brand-new" is created first, then the template is refused: nothing stays written.
    response = await service.client.post(
        "/prompts", json={"name": "n", "class_name": "brand-new", "content": "{{ oops"}
    )
    assert response.status_code == 422
    assert (await service.event_count(), await service.lookup_counts()) == before
    assert before == (0, {"prompt_names": 0, "classes": 0, "tags": 0, "prompt_tags": 0})


@pytest.mark.parametrize(
    ("payload", "field", "rule", "says"),
    [
        ({"content": "hi"}, "name", "missing", ""),
        ({"name": "", "content": "hi"}, "name", "string_too_short", ""),
        ({"name": "  ", "content": "hi"}, "name", "string_pattern_mismatch", "blank"),
        ({"name": "a"}, "content", "missing", "content"),
        ({"name": "a", "content": "x", "messages": [{"role": "user", "content": "y"}]},
         "messages", "exclusive", "not both"),
        ({"name": "a", "content": "x" * 100_001}, "content", "string_too_long", "100000"),
        ({"name": "a", "messages": [{"role": "user", "content": "x" * 100_001}]},
         "messages.0.content", "string_too_long", "100000"),
        ({"name": "a", "content": "ok\n{{ broken "}, "content", "template_syntax", "line 2"),
        ({"name": "a", "messages": [{"role": "user", "content": "{% if %}"}]},
         "messages.0.content", "template_syntax", "line 1"),
        ({"name": "a", "content": "{{ x }}", "variables": [{"name": "x"}, {"name": "x"}]},
         "variables", "unique", "x"),
        ({"name": "a", "content": "x", "version": "v" * 51}, "version", "string_too_long", "50"),
        ({"name": "a", "content": "x", "class_id": str(uuid.uuid4()), "class_name": "c"},
         "class_name", "exclusive", "not both"),
        ({"name": "a", "content": "x", "tags": [], "tag_ids": []}, "tag_ids", "exclusive", ""),
        ({"name": "a", "content": "x", "tags": [" "]}, "tags.0", "string_pattern_mismatch", ""),
    ],
)  # fmt: skip
async def test_bad_input_names_field_and_rule(
    service: Any, payload: dict[str, object], field: str, rule: str, says: str
) -> None:
    response = await service.client.post("/prompts", json=payload)
    assert response.status_code == 422, response.text
    error = service.error(response)
    assert (error["field"], error["type"]) == (field, rule)
    assert says in error["msg"]
    assert await service.event_count() == 0


async def test_oversized_actor_header_is_422(service: Any) -> None:
    response = await service.client.post(
        "/prompts", json={"name": "a", "content": "x"}, headers={"X-Actor": "a" * 201}
    )
    assert response.status_code == 422
    assert (service.error(response)["field"], service.error(response)["type"]) == (
        "X-Actor",
        "string_too_long",
    )


async def test_variable_mismatch_is_reported_and_the_version_stored(service: Any) -> None:
    response = await service.client.post(
        "/prompts", json={"name": "a", "content": "{{ x }}", "variables": [{"name": "y"}]}
    )
    assert response.status_code == 201, response.text
    warnings = response.json()["warnings"]
    assert [(w["field"], w["type"]) for w in warnings] == [
        ("variables", "undeclared_variable"),
        ("variables", "unused_variable"),
    ]
    assert "'x'" in warnings[0]["msg"] and "'y'" in warnings[1]["msg"]


async def test_malformed_json_is_400(service: Any) -> None:
    response = await service.client.post(
        "/prompts", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert service.error(response)["type"] == "json_invalid"


async def test_new_versions_count_up_and_carry_the_actor(service: Any) -> None:
    client = service.client
    created = (await client.post("/prompts", json={"name": "v", "content": "one"})).json()
    path = f"/prompts/{created['prompt_id']}/versions"
    chat = {"messages": [{"role": "system", "content": "Be {{ tone }}"}], "version": "v2"}
    second = await client.post(path, json=chat, headers={"X-Actor": "bo", **service.if_match(2)})
    assert second.status_code == 201, second.text
    body = second.json()
    assert (body["version_number"], body["stream_version"]) == (2, 3)
    assert body["positions"] == [{"stream_id": created["prompt_id"], "stream_version": 3}]
    assert [w["type"] for w in body["warnings"]] == ["undeclared_variable"]
    third = await client.post(path, json={"content": "three", "author": "cy"})
    assert third.json()["version_number"] == 3
    stream = await service.stream(created["prompt_id"])
    assert [version for version, _, _ in stream] == [1, 2, 3, 4]
    assert [data.get("number") for _, _, data in stream] == [None, 1, 2, 3]
    assert (stream[2][2]["actor"], stream[2][2]["author"]) == ("bo", "bo")
    assert (stream[3][2]["actor"], stream[3][2]["author"]) == ("", "cy")
    assert stream[2][2]["template"]["kind"] == "chat"


async def test_new_version_with_stale_if_match_is_409_with_the_current_version(
    service: Any,
) -> None:
    client = service.client
    created = (await client.post("/prompts", json={"name": "v", "content": "one"})).json()
    path = f"/prompts/{created['prompt_id']}/versions"
    ok = await client.post(path, json={"content": "two"}, headers=service.if_match(2))
    assert ok.status_code == 201 and ok.json()["version_number"] == 2
    stale = await client.post(path, json={"content": "three"}, headers=service.if_match(2))
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 3
    assert service.error(stale)["type"] == "version_conflict"
    garbage = await client.post(path, json={"content": "x"}, headers={"If-Match": "abc"})
    assert garbage.status_code == 422 and service.error(garbage)["field"] == "If-Match"


async def test_unknown_prompt_is_404_naming_the_path_parameter(service: Any) -> None:
    response = await service.client.post(f"/prompts/{uuid.uuid4()}/versions", json={"content": "x"})
    assert response.status_code == 404
    assert service.error(response)["field"] == "prompt_id"
    assert service.error(response)["loc"] == ["path", "prompt_id"]


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"name": "a\u0000b", "content": "x"}, ["body", "name"]),
        ({"name": "a", "content": "x\u0000"}, ["body", "content"]),
        ({"name": "a", "messages": [{"role": "user", "content": "\u0000"}]},
         ["body", "messages", "0", "content"]),
    ],
)  # fmt: skip
async def test_nul_characters_are_422_naming_the_field_and_nothing_is_written(
    service: Any, payload: dict[str, object], loc: list[str]
) -> None:
    response = await service.client.post("/prompts", json=payload)
    error = service.error(response)
    assert response.status_code == 422, response.text
    assert (error["loc"], error["type"]) == (loc, "nul_character")
    assert await service.event_count() == 0


@pytest.mark.parametrize("actor", ["张伟", "Zoë"])
async def test_a_non_ascii_actor_in_utf8_is_recorded_as_sent(service: Any, actor: str) -> None:
    response = await service.client.post(
        "/prompts", json={"name": actor, "content": "x"}, headers={"X-Actor": actor.encode()}
    )
    assert response.status_code == 201, response.text
    stream = await service.stream(response.json()["prompt_id"])
    assert {data["actor"] for _, _, data in stream} == {actor}
