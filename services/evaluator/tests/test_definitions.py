"""Evaluator definitions on the real evaluator (PostgreSQL, Kafka): versions with history,
unique names, invalid assertions refused naming the field, the version lookup runs pin with."""

from __future__ import annotations

import uuid

import pytest

from promptworks_contracts.events import EvaluatorCreated, EvaluatorVersionCreated
from promptworks_contracts.topics import EVALUATION_EVENTS
from services.evaluator.tests.harness import Harness

pytestmark = pytest.mark.integration

POLITE = [{"type": "icontains", "value": "thank"}]
STRICT = [*POLITE, {"type": "max_latency_ms", "threshold": 2000, "name": "fast"}]


async def test_an_evaluator_gets_versions_and_keeps_them(evaluator: Harness) -> None:
    client = evaluator.client
    created = await client.post(
        "/evaluators",
        json={"name": "polite", "assertions": POLITE, "message": "first"},
        headers={"X-Actor": "ann"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    evaluator_id = body["evaluator_id"]
    assert body["latest_version"] == 1 and body["stream_version"] == 2
    assert body["positions"] == [{"stream_id": evaluator_id, "stream_version": 2}]

    url = f"/evaluators/{evaluator_id}/versions"
    stale = await client.post(url, json={"assertions": STRICT}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409
    second = await client.post(url, json={"assertions": STRICT}, headers={"If-Match": '"2"'})
    assert second.status_code == 201 and second.json()["latest_version"] == 2
    # The same assertions again (a retried request) make no third version.
    again = await client.post(url, json={"assertions": STRICT})
    assert again.status_code == 201 and again.json()["latest_version"] == 2
    assert again.json()["positions"] == []

    first = (await client.get(f"{url}/1")).json()
    assert first["version"] == 1 and first["assertions"][0]["value"] == "thank"
    latest = (await client.get(f"{url}/latest")).json()
    assert latest["version"] == 2 and latest["assertions"][1]["name"] == "fast"
    missing = await client.get(f"{url}/7")
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "version"
    unknown = await client.get(f"/evaluators/{uuid.uuid4()}/versions/latest")
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["field"] == "evaluator_id"

    await evaluator.wait_for_outbox_drained()
    published = [
        r.event
        for r in await evaluator.read(EVALUATION_EVENTS)
        if r.envelope.subject == evaluator_id
    ]
    assert [type(e) for e in published] == [
        EvaluatorCreated,
        EvaluatorVersionCreated,
        EvaluatorVersionCreated,
    ]
    assert isinstance(published[0], EvaluatorCreated) and published[0].actor == "ann"
    assert [e.version for e in published[1:] if isinstance(e, EvaluatorVersionCreated)] == [1, 2]


async def test_bad_definitions_are_refused_naming_the_field(evaluator: Harness) -> None:
    client = evaluator.client
    ok = await client.post("/evaluators", json={"name": "taken", "assertions": POLITE})
    assert ok.status_code == 201
    taken = await client.post("/evaluators", json={"name": "taken", "assertions": POLITE})
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "name"

    bad_regex = await client.post(
        "/evaluators", json={"name": "x", "assertions": [{"type": "regex", "value": "(a"}]}
    )
    assert bad_regex.status_code == 422
    assert bad_regex.json()["errors"][0]["field"].startswith("assertions.0")
    empty = await client.post("/evaluators", json={"name": "y", "assertions": []})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "assertions"
    judge = {
        "type": "llm_judge",
        "provider": "mock",
        "model": "judge",
        "dimensions": [{"name": "a"}, {"name": "a"}],
    }
    twice = await client.post(
        f"/evaluators/{ok.json()['evaluator_id']}/versions", json={"assertions": [judge]}
    )
    assert twice.status_code == 422
    assert twice.json()["errors"][0]["field"].startswith("assertions.0")
    assert await evaluator.scalar("SELECT count(*) FROM evaluator_versions") == 1


async def test_definitions_belong_to_their_project(evaluator: Harness) -> None:
    client = evaluator.client
    body = {"name": "shared name", "assertions": POLITE}
    mine = await client.post("/evaluators", json=body)
    theirs = await client.post("/evaluators", json=body, headers={"X-Project": "acme"})
    assert mine.status_code == 201 and theirs.status_code == 201  # names unique per project
    acme_id = theirs.json()["evaluator_id"]
    # Another project's evaluator is unknown: not versioned, not pinned.
    version = await client.post(f"/evaluators/{acme_id}/versions", json={"assertions": STRICT})
    assert version.status_code == 404
    assert version.json()["errors"][0]["field"] == "evaluator_id"
    pinned = await client.get(f"/evaluators/{acme_id}/versions/latest")
    assert pinned.status_code == 404
    own = await client.get(f"/evaluators/{acme_id}/versions/latest", headers={"X-Project": "acme"})
    assert own.status_code == 200 and own.json()["version"] == 1
    await evaluator.wait_for_outbox_drained()
    created = [
        r.event
        for r in await evaluator.read(EVALUATION_EVENTS)
        if isinstance(r.event, EvaluatorCreated)
    ]
    assert sorted(e.project_id for e in created) == ["acme", "default"]
