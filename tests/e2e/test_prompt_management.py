"""Prompt management end to end: every write through query-api into prompt-service, every read
back out of query-api's read models, all as real processes on real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from devstack.services import Stack
from tests.e2e.conftest import unique

pytestmark = pytest.mark.e2e


@pytest.fixture
async def api(stack: Stack) -> Any:
    headers = {"X-Actor": "e2e-tester"}
    async with stack.api_client("/api/v1", timeout=30, headers=headers) as client:
        yield client


async def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_version_labels_rollback_and_history(api: httpx.AsyncClient) -> None:
    tag = await ok(
        await api.post("/prompt-tags", json={"name": unique("t"), "color": "#12AB34"}), 201
    )
    prompt = await ok(
        await api.post(
            "/prompts",
            json={
                "name": unique("summarise"),
                "class_name": unique("class"),
                "tags": [tag["name"]],
                "version": "v1",
                "content": "Summarise {{ text }}",
                "variables": [{"name": "text"}],
                "commit_message": "first",
            },
        ),
        201,
    )
    prompt_id = prompt["id"]
    assert [t["name"] for t in prompt["tags"]] == [tag["name"]]
    second = await ok(
        await api.post(
            f"/prompts/{prompt_id}/versions",
            json={
                "version": "v2",
                "content": "Summarise briefly: {{ text }}",
                "commit_message": "shorter",
            },
            headers={"If-Match": f'"{prompt["stream_version"]}"'},
        ),
        201,
    )
    assert second["current_version"]["number"] == 2

    labelled = await ok(
        await api.put(f"/prompts/{prompt_id}/labels/production", json={"version_number": 2})
    )
    assert labelled["labels"]["production"] == 2

    by_label = await api.get(f"/prompts/{prompt_id}", params={"label": "production"})
    assert by_label.status_code == 200
    assert by_label.json()["resolved_version"]["number"] == 2
    etag = by_label.headers["ETag"]
    cached = await api.get(
        f"/prompts/{prompt_id}", params={"label": "production"}, headers={"If-None-Match": etag}
    )
    assert cached.status_code == 304

    # Roll production back to version 1, and the prompt's current version too.
    await ok(await api.put(f"/prompts/{prompt_id}/labels/production", json={"version_number": 1}))
    rolled = await ok(await api.post(f"/prompts/{prompt_id}/rollback", json={"version_number": 1}))
    assert rolled["current_version"]["number"] == 1
    moved = await api.get(
        f"/prompts/{prompt_id}", params={"label": "production"}, headers={"If-None-Match": etag}
    )
    assert moved.status_code == 200 and moved.json()["resolved_version"]["number"] == 1

    diff = await ok(await api.get(f"/prompts/{prompt_id}/diff", params={"from": 1, "to": 2}))
    assert "+Summarise briefly: {{ text }}" in diff["template"]["unified"]

    rendered = await ok(
        await api.post(
            f"/prompts/{prompt_id}/render", json={"label": "production", "variables": {"text": "x"}}
        )
    )
    assert rendered["text"] == "Summarise x"

    history = await ok(await api.get(f"/prompts/{prompt_id}/history"))
    assert isinstance(history, list)
    assert [h["stream_version"] for h in history] == list(range(1, len(history) + 1))
    assert {h["actor"] for h in history} == {"e2e-tester"}


async def test_archive_restore_and_filters(api: httpx.AsyncClient) -> None:
    name = unique("archivable")
    prompt = await ok(await api.post("/prompts", json={"name": name, "content": "hi"}), 201)
    await ok(await api.post(f"/prompts/{prompt['id']}/archive", json={"message": "old"}))
    visible = (await api.get("/prompts", params={"q": name})).json()
    assert prompt["id"] not in {p["id"] for p in visible}
    archived = (await api.get("/prompts", params={"q": name, "archived": "true"})).json()
    assert prompt["id"] in {p["id"] for p in archived}
    conflict = await api.post(f"/prompts/{prompt['id']}/versions", json={"content": "again"})
    assert conflict.status_code == 409
    await ok(await api.post(f"/prompts/{prompt['id']}/restore", json={}))
    visible = (await api.get("/prompts", params={"q": name})).json()
    assert prompt["id"] in {p["id"] for p in visible}


async def test_many_writers_race_on_one_prompt_without_lost_updates(
    api: httpx.AsyncClient,
) -> None:
    prompt = await ok(
        await api.post("/prompts", json={"name": unique("raced"), "content": "v1"}), 201
    )
    prompt_id = prompt["id"]

    async def writer(index: int) -> None:
        expected = None
        for _ in range(50):
            headers = {"If-Match": f'"{expected}"'} if expected else {}
            response = await api.post(
                f"/prompts/{prompt_id}/versions",
                json={"content": f"writer {index}"},
                headers=headers,
            )
            if response.status_code in (201, 202):
                return
            assert response.status_code == 409, response.text
            expected = response.json()["current_version"]
        raise AssertionError(f"writer {index} never got through")

    await asyncio.gather(*(writer(i) for i in range(8)))
    async with asyncio.timeout(30):
        while True:
            versions = (await api.get(f"/prompts/{prompt_id}/versions")).json()
            if len(versions) == 9:
                break
            await asyncio.sleep(0.1)
    assert sorted(v["number"] for v in versions) == list(range(1, 10))
    contents = []
    for number in range(2, 10):
        version = (await api.get(f"/prompts/{prompt_id}/versions/{number}")).json()
        contents.append(version["template"]["text"])
    assert sorted(contents) == sorted(f"writer {i}" for i in range(8))


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/prompts", {"name": "", "content": "x"}, 422, "name"),
        ("/prompts", {"name": "big", "content": "x" * 100_001}, 422, "content"),
        ("/prompts", {"name": "badtpl", "content": "{{ oops "}, 422, "content"),
        (
            "/prompts",
            {"name": "badtag", "content": "x", "tags": ["no-such-tag-xyz"]},
            422,
            "tags.0",
        ),
        ("/prompt-tags", {"name": "c", "color": "red"}, 422, "color"),
        ("/prompts", {"name": "nul\u0000", "content": "x"}, 422, "name"),
    ],
)
async def test_bad_input_is_a_clear_4xx(
    api: httpx.AsyncClient, path: str, body: dict[str, Any], status: int, field: str
) -> None:
    response = await api.post(path, json=body)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field


async def test_label_on_a_missing_version_names_the_field(api: httpx.AsyncClient) -> None:
    prompt = await ok(await api.post("/prompts", json={"name": unique("lbl"), "content": "x"}), 201)
    response = await api.put(
        f"/prompts/{prompt['id']}/labels/production", json={"version_number": 7}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "version_number"


@pytest.mark.parametrize("actor", ["张伟", "Zoë"])
async def test_a_non_ascii_actor_travels_through_query_api_into_the_history(
    api: httpx.AsyncClient, actor: str
) -> None:
    created = await api.post(
        "/prompts",
        json={"name": unique("actor"), "content": "x"},
        headers={"X-Actor": actor.encode()},
    )
    prompt = await ok(created, 201)
    history = await ok(await api.get(f"/prompts/{prompt['id']}/history"))
    assert isinstance(history, list)
    assert {h["actor"] for h in history} == {actor}
