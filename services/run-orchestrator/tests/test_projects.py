"""Projects in run-orchestrator (ADR 0017): a run acts in the project query-api forwards
(``X-Project``), uses only prompt versions of that project (their copy keeps the project of
their envelope), stamps it on every event of the run, and is not found from another project."""

from __future__ import annotations

from typing import Any

import pytest

from promptworks_contracts.events import ProviderRegistered
from tests.support.fake_openai import serving_fake_openai

pytestmark = pytest.mark.integration

IN_B = {"X-Project": "b"}


async def test_a_run_lives_in_its_project(harness: Any) -> None:
    in_b = await harness.publish_version("Hello {{ name }}", project="b")
    in_default = await harness.publish_version("Hi {{ name }}")
    run = {"cases": [{"name": "Ann"}], "repetitions": 2}
    async with harness.client() as client:
        created = await client.post(
            "/runs", json={**run, "prompt_version_id": str(in_b.version_id)}, headers=IN_B
        )
        assert created.status_code == 201, created.text
        run_id = created.json()["run_id"]
        # The other project's version is unknown here, as one that never existed.
        for version, headers in ((in_default, IN_B), (in_b, {})):
            stolen = await client.post(
                "/runs", json={**run, "prompt_version_id": str(version.version_id)}, headers=headers
            )
            assert stolen.status_code == 422, stolen.text
            assert stolen.json()["errors"][0]["field"] == "prompt_version_id"
        by_label = await client.post(
            "/runs", json={**run, "prompt_id": str(in_b.prompt_id), "label": "latest"}
        )
        assert by_label.status_code == 422, by_label.text
        read = await harness.read_run_topic(run_id)
        for path in ("cancel", "retry"):
            elsewhere = await client.post(f"/runs/{run_id}/{path}")
            assert elsewhere.status_code == 404, (path, elsewhere.text)
        retried = await client.post(f"/runs/{run_id}/retry", headers=IN_B)
        assert retried.status_code == 409, retried.text  # its own project: nothing failed

    types = [envelope.type.split(".")[2] for envelope, _ in read.events]
    assert types == ["created", "started", "result_recorded", "result_recorded", "completed"]
    assert {envelope.project for envelope, _ in read.events} == {"b"}
    assert read.events[0][1]["project_id"] == "b"
    assert await harness.fetchval("SELECT project_id FROM runs") == "b"


async def test_each_project_has_its_own_provider_catalog(harness: Any) -> None:
    """Project b's ``acme`` is invisible, unusable, unchangeable and irremovable from
    ``default``, which registers its own ``acme``; the mock and PROVIDERS serve both."""
    in_b = await harness.publish_version("Hello {{ name }}", project="b")
    in_default = await harness.publish_version("Hi {{ name }}")
    run = {"cases": [{"name": "Ann"}], "model_name": "m"}
    async with serving_fake_openai() as fake:
        settings = {
            "allow_private_provider_urls": True,  # the loopback fake
            "providers": {"conf": {"base_url": fake.base_url, "api_key": "sk-conf"}},
        }
        acme = {"name": "acme", "base_url": fake.base_url, "api_key_env": "B_API_KEY"}
        with pytest.MonkeyPatch.context() as env:
            env.setenv("B_API_KEY", "sk-b")
            env.setenv("A_API_KEY", "sk-a")
            async with harness.client(**settings) as client:
                registered = await client.post("/providers", json=acme, headers=IN_B)
                assert registered.status_code == 201, registered.text
                listed = await client.get("/providers")
                assert [p["name"] for p in listed.json()] == ["mock", "conf"]
                listed_b = await client.get("/providers", headers=IN_B)
                assert [p["name"] for p in listed_b.json()] == ["mock", "conf", "acme"]
                # From default, b's acme is what an unknown provider is: 422 on a run, 404 to
                # change or remove.
                stolen = await client.post(
                    "/runs",
                    json={
                        **run,
                        "prompt_version_id": str(in_default.version_id),
                        "provider": "acme",
                    },
                )
                assert stolen.status_code == 422, stolen.text
                error = stolen.json()["errors"][0]
                assert (error["field"], error["type"]) == ("provider", "unknown_provider")
                changed = await client.patch("/providers/acme", json={"timeout_seconds": 5})
                assert changed.status_code == 404, changed.text
                removed = await client.delete("/providers/acme")
                assert removed.status_code == 404, removed.text
                quick = {
                    "prompt_version_id": str(in_default.version_id),
                    "variables": {"name": "Ann"},
                    "provider": "acme",
                    "model_name": "m",
                }
                batch = await client.post(
                    "/batches",
                    json={
                        "versions": [{"prompt_version_id": str(in_default.version_id)}],
                        "models": [{"provider": "acme", "model_name": "m"}],
                        "cases": [{"name": "Ann"}],
                    },
                )
                assert batch.status_code == 422, batch.text
                assert batch.json()["errors"][0]["field"] == "models.0.provider"
                tried = await client.post("/quick-test", json=quick)
                assert tried.status_code == 422, tried.text
                assert tried.json()["errors"][0]["field"] == "provider"
                # A judge call names its project like a command (X-Project; absent: default).
                judge = {
                    "provider": "acme",
                    "model": "m",
                    "messages": [{"role": "user", "content": "Rate this"}],
                }
                unknown = await client.post("/internal/completions", json=judge)
                assert unknown.status_code == 422, unknown.text
                judged = await client.post("/internal/completions", json=judge, headers=IN_B)
                assert judged.status_code == 200 and judged.json()["error"] is None, judged.text
                # default may have its own acme (another key); PROVIDERS names stay reserved.
                own = await client.post("/providers", json={**acme, "api_key_env": "A_API_KEY"})
                assert own.status_code == 201, own.text
                reserved = await client.post(
                    "/providers", json={**acme, "name": "conf"}, headers=IN_B
                )
                assert reserved.status_code == 409, reserved.text
                runs = []
                for version, headers, provider in (
                    (in_b, IN_B, "acme"),
                    (in_default, {}, "acme"),
                    (in_b, IN_B, "conf"),
                    (in_default, {}, "conf"),
                    (in_b, IN_B, "mock"),
                ):
                    body = {**run, "prompt_version_id": str(version.version_id)}
                    created = await client.post(
                        "/runs", json={**body, "provider": provider}, headers=headers
                    )
                    assert created.status_code == 201, created.text
                    runs.append(created.json()["run_id"])
                for run_id in runs:
                    stored = await harness.wait_finished(run_id)
                    assert stored[-1][2]["status"] == "completed", stored[-1]
                # Each project's acme: changed and removed in its own project only.
                in_b_changed = await client.patch(
                    "/providers/acme", json={"timeout_seconds": 7}, headers=IN_B
                )
                assert in_b_changed.status_code == 200, in_b_changed.text
                assert (await client.delete("/providers/acme", headers=IN_B)).status_code == 204
                listed = await client.get("/providers")
                assert [(p["name"], p["timeout_seconds"]) for p in listed.json()][-1] == (
                    "acme",
                    own.json()["timeout_seconds"],
                )
    assert sorted(fake.authorizations) == sorted(
        ["Bearer sk-b", "Bearer sk-b", "Bearer sk-a", "Bearer sk-conf", "Bearer sk-conf"]
    )
    projects = await harness.fetchval(
        "SELECT string_agg(data->>'project_id', ',' ORDER BY position) "
        "FROM events WHERE event_type = 'promptworks.provider.registered.v1'"
    )
    assert projects == "b,default"
    # A ProviderRegistered written before projects (no project_id) belongs to default, as does
    # a catalog row from before migration 0006 (the column's default).
    legacy = await harness.fetchval(
        "SELECT data::jsonb - 'project_id' FROM events "
        "WHERE event_type = 'promptworks.provider.registered.v1' LIMIT 1"
    )
    assert ProviderRegistered.model_validate_json(legacy).project_id == "default"
    assert (
        await harness.fetchval(
            "SELECT column_default FROM information_schema.columns "
            "WHERE table_name = 'provider_catalog' AND column_name = 'project_id'"
        )
        == "'default'::text"
    )
