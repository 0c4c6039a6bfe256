"""Projects in run-orchestrator (ADR 0017): a run acts in the project query-api forwards
(``X-Project``), uses only prompt versions of that project (their copy keeps the project of
their envelope), stamps it on every event of the run, and is not found from another project."""

from __future__ import annotations

from typing import Any

import pytest

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
