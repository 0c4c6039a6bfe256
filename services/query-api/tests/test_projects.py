"""Projects as tenants through the public API (issue 11, ADR 0017): two projects, two keys,
the real prompt-service. A key never sees or changes another project's prompts, classes or
tags (lists, ``q=`` search, by id: 404), cannot act in a project it is not granted (403) or
one that does not exist (404), both naming ``X-Project``; an admin key reaches both; the
events carry the project; an event recorded before projects lands in ``default``."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from promptworks_contracts.events import PromptCreated
from promptworks_contracts.topics import PROMPT_EVENTS
from tests.support.kafka import envelope_for, read_topic
from tests.support.service_process import service_process

pytestmark = pytest.mark.integration

API = "/api/v1"
RUNS = f"{API}/test_prompt"


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def as_key(secret: str, project: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {secret}"}
    return headers if project is None else {**headers, "X-Project": project}


def names(items: list[dict[str, Any]]) -> set[str]:
    return {item["name"] for item in items}


def refused_on_project(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "X-Project"


async def test_two_projects_never_see_each_others_prompts_or_runs(
    serve, settings, database, kafka, prompt_service, eventually, tmp_path
) -> None:
    orchestrator_db = await database("run-orchestrator")
    async with (
        service_process("run-orchestrator", orchestrator_db, kafka, tmp_path) as orchestrator,
        serve(
            settings.model_copy(
                update={"prompt_service_url": prompt_service, "run_orchestrator_url": orchestrator}
            )
        ) as api,
    ):
        admin = api.client
        project = await ok(await admin.post(f"{API}/projects", json={"id": "b", "name": "B"}), 201)
        assert project["id"] == "b" and project["name"] == "B" and project["created_at"]
        again = await admin.post(f"{API}/projects", json={"id": "b", "name": "B again"})
        assert again.status_code == 409
        bad = await admin.post(f"{API}/projects", json={"id": "Not A Slug", "name": "x"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "id"

        scopes = ["read", "prompts:write", "runs:write"]
        key_a = await ok(
            await admin.post(f"{API}/api-keys", json={"name": "a", "scopes": scopes}), 201
        )
        assert key_a["projects"] == ["default"]
        key_b = await ok(
            await admin.post(
                f"{API}/api-keys", json={"name": "b", "scopes": scopes, "projects": ["b"]}
            ),
            201,
        )
        assert key_b["projects"] == ["b"]
        read_back = await ok(await admin.get(f"{API}/api-keys/{key_b['id']}"))
        assert read_back["projects"] == ["b"]
        unknown = await admin.post(
            f"{API}/api-keys",
            json={"name": "x", "scopes": ["read"], "projects": ["default", "nope"]},
        )
        assert unknown.status_code == 422, unknown.text
        assert unknown.json()["errors"][0]["field"] == "projects.1"
        a, b = as_key(key_a["secret"]), as_key(key_b["secret"])

        listed = await ok(await admin.get(f"{API}/projects"))
        assert [p["id"] for p in listed["items"]] == ["b", "default"]
        mine = await admin.get(f"{API}/projects", headers=b)
        assert [p["id"] for p in (await ok(mine))["items"]] == ["b"]
        assert mine.headers["X-Total-Count"] == "1"

        # The same names in both projects: names are unique per project, not globally.
        body = {"name": "greeting", "author": "ann", "class_name": "support", "content": "Hi"}
        tag = {"name": "faq", "color": "#12AB34"}
        await ok(await admin.post(f"{API}/prompt-tags", json=tag, headers=a), 201)
        await ok(await admin.post(f"{API}/prompt-tags", json=tag, headers=b), 201)
        prompt_a = await ok(
            await admin.post(f"{API}/prompts", json={**body, "tags": ["faq"]}, headers=a), 201
        )
        prompt_b = await ok(
            await admin.post(
                f"{API}/prompts", json={**body, "tags": ["faq"], "author": "bob"}, headers=b
            ),
            201,
        )
        assert prompt_a["class"]["id"] != prompt_b["class"]["id"]
        assert prompt_a["tags"][0]["id"] != prompt_b["tags"][0]["id"]

        for key, own, other in ((a, prompt_a, prompt_b), (b, prompt_b, prompt_a)):
            for params in ({}, {"q": "greeting"}, {"q": "bob"}, {"q": "ann"}, {"tag": "faq"}):
                page = await ok(await admin.get(f"{API}/prompts", params=params, headers=key))
                assert other["id"] not in {p["id"] for p in page}, params
            # The same word in both projects: each search counts its own project's prompt.
            for q in ("greeting", "greting", "support"):  # a name, a typo, the class's name
                found = await admin.get(f"{API}/prompts", params={"q": q}, headers=key)
                assert [p["id"] for p in await ok(found)] == [own["id"]], q
                assert found.headers["X-Total-Count"] == "1", q
            everything = await admin.get(f"{API}/prompts", headers=key)
            assert [p["id"] for p in await ok(everything)] == [own["id"]]
            assert everything.headers["X-Total-Count"] == "1"
            classes = await ok(await admin.get(f"{API}/prompt-classes", headers=key))
            assert [c["id"] for c in classes] == [own["class"]["id"]]
            tags = await ok(await admin.get(f"{API}/prompt-tags", headers=key))
            assert [t["id"] for t in tags["items"]] == [own["tags"][0]["id"]]
            assert tags["tagged_prompt_total"] == 1
            # By id: 404, exactly as for an id that never existed.
            url = f"{API}/prompts/{other['id']}"
            for path in ("", "/versions", "/versions/1", "/history"):
                gone = await admin.get(url + path, headers=key)
                assert gone.status_code == 404, (path, gone.text)
            never = uuid.uuid4()
            absent = await admin.get(f"{API}/prompts/{never}", headers=key)
            hidden = await admin.get(url, headers=key)
            assert hidden.json()["detail"] == absent.json()["detail"].replace(
                str(never), other["id"]
            )
            other_class = await admin.get(
                f"{API}/prompt-classes/{other['class']['id']}", headers=key
            )
            assert other_class.status_code == 404
            other_tag = await admin.get(f"{API}/prompt-tags/{other['tags'][0]['id']}", headers=key)
            assert other_tag.status_code == 404
            # Nor changed, nor referenced.
            edit = await admin.patch(url, json={"description": "mine now"}, headers=key)
            assert edit.status_code == 404, edit.text
            version = await admin.post(f"{url}/versions", json={"content": "x"}, headers=key)
            assert version.status_code == 404, version.text
            theft = await admin.post(
                f"{API}/prompts",
                json={"name": "thief", "content": "x", "class_id": other["class"]["id"]},
                headers=key,
            )
            assert theft.status_code == 422 and theft.json()["errors"][0]["field"] == "class_id"

        # A project the key is not granted: 403; one that does not exist: 404; both name it.
        refused_on_project(
            await admin.get(f"{API}/prompts", headers=as_key(key_a["secret"], "b")), 403
        )
        write_b = await admin.post(
            f"{API}/prompts",
            json={"name": "x", "content": "x"},
            headers=as_key(key_a["secret"], "b"),
        )
        refused_on_project(write_b, 403)
        refused_on_project(
            await admin.get(f"{API}/prompts", headers=as_key(key_a["secret"], "nope")), 404
        )

        # The admin reaches both: default without X-Project, b with it.
        assert [p["id"] for p in await ok(await admin.get(f"{API}/prompts"))] == [prompt_a["id"]]
        in_b = await ok(await admin.get(f"{API}/prompts", headers={"X-Project": "b"}))
        assert [p["id"] for p in in_b] == [prompt_b["id"]]
        assert (
            await admin.get(f"{API}/prompts/{prompt_b['id']}", headers={"X-Project": "b"})
        ).status_code == 200
        refused_on_project(await admin.get(f"{API}/prompts", headers={"X-Project": "nope"}), 404)

        await runs_stay_in_their_project(admin, a, b, prompt_a, prompt_b, eventually)

        # Events carry the project: the envelope's attribute and the creation event's payload.
        records = await read_topic(settings.kafka, PROMPT_EVENTS, count=6)
        created = {
            r.envelope.subject: r for r in records if r.envelope.type == PromptCreated.event_type
        }
        for prompt, expected in ((prompt_a, "default"), (prompt_b, "b")):
            record = created[prompt["id"]]
            assert record.envelope.project == expected
            assert dict(record.headers)["ce_project"] == expected.encode()
            assert PromptCreated.model_validate_json(record.value).project_id == expected


async def runs_stay_in_their_project(
    admin: httpx.AsyncClient,
    a: dict[str, str],
    b: dict[str, str],
    prompt_a: dict[str, Any],
    prompt_b: dict[str, Any],
    eventually: Any,
) -> None:
    """Runs, their results, exports, comparisons, batches and usage: each key sees its own."""
    work = {"provider": "mock", "model_name": "echo", "cases": [{"x": "1"}, {"x": "2"}]}
    version_a = prompt_a["current_version"]["id"]
    version_b = prompt_b["current_version"]["id"]
    run_a = await ok(
        await admin.post(f"{RUNS}", json={**work, "prompt_version_id": version_a}, headers=a), 201
    )
    run_b = await ok(
        await admin.post(f"{RUNS}", json={**work, "prompt_version_id": version_b}, headers=b), 201
    )
    batch_b = await ok(
        await admin.post(
            f"{API}/batches",
            json={
                "cases": work["cases"],
                "versions": [{"prompt_version_id": version_b}],
                "models": [{"provider": "mock", "model_name": "echo"}],
            },
            headers=b,
        ),
        201,
    )
    # Another project's version or prompt cannot be run, as if it did not exist.
    for key, other_version, other_prompt in ((a, version_b, prompt_b), (b, version_a, prompt_a)):
        stolen = await admin.post(
            f"{RUNS}", json={**work, "prompt_version_id": other_version}, headers=key
        )
        assert stolen.status_code == 422, stolen.text
        assert stolen.json()["errors"][0]["field"] == "prompt_version_id"
        by_label = await admin.post(
            f"{RUNS}",
            json={**work, "prompt_id": other_prompt["id"], "label": "latest"},
            headers=key,
        )
        assert by_label.status_code == 422, by_label.text

    async def finished(key: dict[str, str], run: dict[str, Any]) -> None:
        current = await ok(await admin.get(f"{RUNS}/{run['id']}", headers=key))
        assert current["status"] == "completed", current

    await eventually(lambda: finished(a, run_a))
    await eventually(lambda: finished(b, run_b))

    for key, own, other in ((a, run_a, run_b), (b, run_b, run_a)):
        listed = await admin.get(RUNS, headers=key)
        own_runs = {r["id"] for r in await ok(listed)}
        assert other["id"] not in own_runs and own["id"] in own_runs
        for path in (
            "",
            "/results",
            "/results/export",
            "/events",
            f"/compare?baseline={own['id']}",
        ):
            gone = await admin.get(f"{RUNS}/{other['id']}{path}", headers=key)
            assert gone.status_code == 404, (path, gone.text)
        baseline = await admin.get(
            f"{RUNS}/{own['id']}/compare", params={"baseline": other["id"]}, headers=key
        )
        assert baseline.status_code == 404 and baseline.json()["errors"][0]["field"] == "baseline"
        cancel = await admin.post(f"{RUNS}/{other['id']}/cancel", headers=key)
        assert cancel.status_code == 404, cancel.text
        usage = await ok(await admin.get(f"{API}/usage/overview", headers=key))
        assert [g["prompt_id"] for g in usage["by_prompt"]] == [own["prompt_id"]]
    assert await ok(await admin.get(f"{API}/batches", headers=a)) == []
    assert [x["id"] for x in await ok(await admin.get(f"{API}/batches", headers=b))] == [
        batch_b["id"]
    ]
    for path in ("", "/events", f"/compare?baseline={run_b['id']}"):
        gone = await admin.get(f"{API}/batches/{batch_b['id']}{path}", headers=a)
        assert gone.status_code == 404, (path, gone.text)
    retry = await admin.post(f"{RUNS}/{run_b['id']}/retry", headers=a)
    assert retry.status_code == 404, retry.text


async def test_an_event_recorded_before_projects_lands_in_default(api, eventually) -> None:
    """Topics written before projects existed replay unchanged: no ``ce_project`` header and
    no ``project_id`` in the payload mean ``default``."""
    admin = api.client
    await ok(await admin.post(f"{API}/projects", json={"id": "other", "name": "Other"}), 201)
    legacy = PromptCreated(prompt_id=uuid.uuid4(), name="from 2025", author="ann")
    envelope = envelope_for(legacy, 1)
    headers = [(k, v) for k, v in envelope.to_kafka_headers() if k != "ce_project"]
    assert all(k != "ce_project" for k, _ in headers)
    # Produced raw: the test helper (``produce``) would stamp every attribute.
    producer = AIOKafkaProducer(bootstrap_servers=api.app.state.settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        value = legacy.model_dump_json(exclude={"project_id"}).encode()
        assert b"project_id" not in value
        await producer.send_and_wait(
            api.app.state.settings.kafka.topic(PROMPT_EVENTS),
            key=envelope.subject.encode(),
            value=value,
            headers=headers,
        )
    finally:
        await producer.stop()
    await api.applied(legacy, 1)
    found = await ok(await admin.get(f"{API}/prompts/{legacy.prompt_id}"))
    assert found["name"] == "from 2025"
    assert [p["id"] for p in await ok(await admin.get(f"{API}/prompts"))] == [str(legacy.prompt_id)]
    elsewhere = await admin.get(f"{API}/prompts/{legacy.prompt_id}", headers={"X-Project": "other"})
    assert elsewhere.status_code == 404
    assert await ok(await admin.get(f"{API}/prompts", headers={"X-Project": "other"})) == []
