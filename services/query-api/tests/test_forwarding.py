"""Public writes forwarded to the REAL command services, run as processes on loopback ports."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.credentials import service_headers
from tests.support.fake_openai import free_port
from tests.support.service_process import service_process

pytestmark = pytest.mark.integration

PROMPTS = "/api/v1/prompts"
RUNS = "/api/v1/test_prompt"
GREETING = {
    "name": "greeting",
    "author": "ann",
    "class_name": "demo",
    "version": "v1",
    "content": "Say hello to {{ name }}",
    "variables": [{"name": "name"}],
}


async def test_create_prompt_answers_with_the_projected_prompt(
    serve, settings, prompt_service
) -> None:
    settings = settings.model_copy(update={"prompt_service_url": prompt_service})
    async with serve(settings) as api:
        response = await api.client.post(
            PROMPTS, json=GREETING, headers={"X-Correlation-ID": "req-42"}
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["name"] == "greeting" and created["author"] == "ann"
        assert created["current_version"]["number"] == 1
        assert created["current_version"]["label"] == "v1"
        assert created["current_version"]["template"] == {
            "kind": "text",
            "text": "Say hello to {{ name }}",
        }
        assert [v["number"] for v in created["versions"]] == [1]
        assert response.headers["Location"] == f"{PROMPTS}/{created['id']}"
        assert response.headers["ETag"] == '"2"'
        assert response.headers["X-Correlation-ID"] == "req-42"
        # Read-your-writes: the answer IS the projection, so reading it back gives the same.
        again = await api.client.get(response.headers["Location"])
        assert again.status_code == 200 and again.json() == created


async def test_command_service_refusals_pass_through_unchanged(
    serve, settings, prompt_service
) -> None:
    settings = settings.model_copy(update={"prompt_service_url": prompt_service})
    async with (
        serve(settings) as api,
        httpx.AsyncClient(base_url=prompt_service, headers=service_headers()) as direct,
    ):
        missing_name = {"content": "hi"}
        response = await api.client.post(PROMPTS, json=missing_name)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "urn:promptworks:problem:invalid-input"
        assert response.json()["errors"][0]["field"] == "name"
        straight = await direct.post("/prompts", json=missing_name)
        assert response.content == straight.content

        malformed = await api.client.post(
            PROMPTS, content=b'{"name": ', headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 400
        assert malformed.json()["errors"][0]["type"] == "json_invalid"

        assert (await api.client.post(PROMPTS, json=GREETING)).status_code == 201
        duplicate = await api.client.post(PROMPTS, json=GREETING)
        assert duplicate.status_code == 409
        assert duplicate.json()["errors"][0]["field"] == "name"


async def test_write_not_yet_projected_is_202_with_location(
    serve, settings, database, kafka, tmp_path
) -> None:
    # Without its relay, prompt-service records the events but never publishes them, so the
    # projection cannot catch up and the bounded wait must end in a 202.
    url = await database("prompt-service")
    async with service_process("prompt-service", url, kafka, tmp_path, "--no-relay") as base_url:
        settings = settings.model_copy(
            update={"prompt_service_url": base_url, "read_your_writes_timeout": 0.3}
        )
        async with serve(settings) as api:
            response = await api.client.post(PROMPTS, json=GREETING)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["version_number"] == 1 and body["stream_version"] == 2
    assert response.headers["Location"] == f"{PROMPTS}/{body['prompt_id']}"


async def test_unreachable_command_services_are_503(serve, settings) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = settings.model_copy(
        update={"prompt_service_url": down, "run_orchestrator_url": down}
    )
    async with serve(settings) as api:
        targets = (
            (PROMPTS, {"name": "x"}, "prompt-service"),
            ("/api/v1/test_prompt", {"prompt_version_id": str(uuid.uuid4())}, "run-orchestrator"),
        )
        for path, body, service in targets:
            response = await api.client.post(path, json=body)
            assert response.status_code == 503, response.text
            problem = response.json()
            assert problem["type"] == "urn:promptworks:problem:upstream-unavailable"
            assert service in problem["detail"] and "nothing was written" in problem["detail"]
            assert problem["status"] == 503 and problem["errors"] == []
            assert response.headers["Retry-After"] == "1"


async def test_create_run_through_the_real_run_orchestrator(
    serve, settings, database, kafka, prompt_service, eventually, tmp_path
) -> None:
    url = await database("run-orchestrator")
    async with service_process("run-orchestrator", url, kafka, tmp_path) as orchestrator_url:
        settings = settings.model_copy(
            update={"prompt_service_url": prompt_service, "run_orchestrator_url": orchestrator_url}
        )
        async with serve(settings) as api:
            prompt = (await api.client.post(PROMPTS, json=GREETING)).json()
            version_id = prompt["current_version"]["id"]
            response = await api.client.post(
                RUNS,
                json={
                    "prompt_version_id": version_id,
                    "provider": "mock",
                    "model_name": "echo",
                    "repetitions": 2,
                    "cases": [{"name": "Ann"}, {"name": "Bob"}],
                    "notes": "through query-api",
                },
            )
            assert response.status_code == 201, response.text
            run = response.json()
            assert run["prompt_version_id"] == version_id and run["total_calls"] == 4
            assert run["notes"] == "through query-api" and run["provider"] == "mock"
            assert run["status"] in ("queued", "running", "completed")  # the run goes on
            assert response.headers["Location"] == f"{RUNS}/{run['id']}"

            async def finished() -> list[dict[str, object]]:
                current = (await api.client.get(f"{RUNS}/{run['id']}")).json()
                assert current["status"] == "completed", current
                return list((await api.client.get(f"{RUNS}/{run['id']}/results")).json())

            results = await eventually(finished)
            assert [(r["case_index"], r["repetition"]) for r in results] == [
                (0, 1), (0, 2), (1, 1), (1, 2)
            ]  # fmt: skip

            refused = await api.client.post(RUNS, json={"prompt_version_id": "nope"})
            assert refused.status_code == 422
            assert refused.json()["errors"][0]["field"] == "prompt_version_id"
