"""Evaluator definitions through query-api into the REAL evaluator (a process on loopback):
versions with history, read your writes, 4xx naming the field, rebuilt from the topic."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

API = "/api/v1"
POLITE = [{"type": "icontains", "value": "thank", "name": "polite"}]
FAST = {"type": "max_latency_ms", "threshold": 2000, "name": "fast"}


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_evaluators_with_versions_and_history(serve, settings, evaluator_service) -> None:
    settings = settings.model_copy(update={"evaluator_url": evaluator_service})
    async with serve(settings) as api:
        client = api.client
        created = await client.post(
            f"{API}/evaluators",
            json={"name": "support answers", "assertions": POLITE, "message": "first"},
            headers={"X-Actor": "ann"},
        )
        evaluator = await ok(created, 201)
        # Answered with the projection: it applied the command's events already.
        assert created.headers["Location"] == f"{API}/evaluators/{evaluator['id']}"
        assert evaluator["name"] == "support answers" and evaluator["latest_version"] == 1
        assert evaluator["latest"]["assertions"][0]["value"] == "thank"
        assert evaluator["stream_version"] == 2
        url = f"{API}/evaluators/{evaluator['id']}"

        stale = await client.post(
            f"{url}/versions", json={"assertions": [*POLITE, FAST]}, headers={"If-Match": '"1"'}
        )
        assert stale.status_code == 409 and stale.json()["current_version"] == 2
        second = await ok(
            await client.post(
                f"{url}/versions",
                json={"assertions": [*POLITE, FAST], "message": "and fast"},
                headers={"If-Match": '"2"', "X-Actor": "bob"},
            ),
            201,
        )
        assert second["latest_version"] == 2 and second["stream_version"] == 3
        assert [a["name"] for a in second["latest"]["assertions"]] == ["polite", "fast"]

        versions = await client.get(f"{url}/versions")
        assert versions.headers["X-Total-Count"] == "2"
        assert [v["version"] for v in versions.json()] == [2, 1]
        first = await ok(await client.get(f"{url}/versions/1"))
        assert first["assertions"] == evaluator["latest"]["assertions"]  # kept, unchanged
        history = await ok(await client.get(f"{url}/history"))
        assert [(h["kind"], h["version"], h["actor"], h["message"]) for h in history] == [
            ("created", None, "ann", ""),
            ("version_created", 1, "ann", "first"),
            ("version_created", 2, "bob", "and fast"),
        ]
        listed = await client.get(f"{API}/evaluators", params={"q": "support"})
        assert [e["id"] for e in listed.json()] == [evaluator["id"]]

        missing = await client.get(f"{url}/versions/9")
        assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "version"
        taken = await client.post(
            f"{API}/evaluators", json={"name": "support answers", "assertions": POLITE}
        )
        assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "name"
        bad = await client.post(
            f"{API}/evaluators",
            json={"name": "bad", "assertions": [{"type": "json_schema", "value": {"type": 7}}]},
        )
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"].startswith("assertions.0")
