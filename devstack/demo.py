"""The demo `make dev` ends with: a prompt, a run on the mock model, its results and metrics."""

from __future__ import annotations

import time
from typing import Any

import httpx

DEMO_PROMPT = {
    "name": "Greeting (demo)",
    "class_name": "demo",
    "author": "PromptWorks",
    "description": "Created by `make dev` to show the pipeline end to end.",
    "version": "v1",
    "content": 'Greet {{ name }} warmly and answer as JSON: {"greeting": "..."}',
    "variables": [{"name": "name"}],
    "commit_message": "first version",
}


def demo_run(prompt_version_id: str) -> dict[str, Any]:
    return {
        "prompt_version_id": prompt_version_id,
        "provider": "mock",
        "model_name": "echo",
        "repetitions": 2,
        "cases": [{"name": "Ada"}, {"name": "Grace"}, {"name": "Linus"}],
        "assertions": [
            {"type": "contains", "value": "{{ name }}", "name": "mentions_name"},
            {"type": "max_latency_ms", "threshold": 1000},
        ],
        "notes": "make dev demo",
    }


def ensure_prompt(client: httpx.Client) -> dict[str, Any]:
    response = client.post("/api/v1/prompts", json=DEMO_PROMPT)
    if response.status_code in (201, 202):
        created: dict[str, Any] = response.json()
        if response.status_code == 201:
            return created
        return client.get(f"/api/v1/prompts/{created['prompt_id']}").json()  # type: ignore[no-any-return]
    if response.status_code == 409:  # demo ran before: reuse it (restored if archived since)
        name = str(DEMO_PROMPT["name"])
        found: list[dict[str, Any]] = client.get(
            "/api/v1/prompts", params={"q": name, "archived": "all"}
        ).json()
        prompt = next(p for p in found if p["name"] == name)
        if prompt.get("archived"):
            restored = client.post(f"/api/v1/prompts/{prompt['id']}/restore", json={})
            restored.raise_for_status()
        if (prompt.get("current_version") or {}).get("content") != DEMO_PROMPT["content"]:
            # Edited since (by hand, or a fuzzer pointed at `make dev`): the demo runs its own
            # template again, as a new version, rather than whatever is current now.
            added = client.post(
                f"/api/v1/prompts/{prompt['id']}/versions",
                json={
                    "content": DEMO_PROMPT["content"],
                    "variables": DEMO_PROMPT["variables"],
                    "commit_message": "make dev: the demo's template again",
                },
            )
            added.raise_for_status()
            return _current(client, str(prompt["id"]))
        return prompt
    response.raise_for_status()
    raise RuntimeError(response.text)


def _current(client: httpx.Client, prompt_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The prompt once its read model shows the demo's template as the current version."""
    deadline = time.monotonic() + timeout
    while True:
        prompt: dict[str, Any] = client.get(f"/api/v1/prompts/{prompt_id}").json()
        current = prompt.get("current_version") or {}
        if current.get("content") == DEMO_PROMPT["content"] or time.monotonic() > deadline:
            return prompt
        time.sleep(0.1)


def wait_for_results(
    client: httpx.Client, run_id: str, expected: int, metrics_per_result: int, timeout: float
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        results: list[dict[str, Any]] = client.get(
            f"/api/v1/test_prompt/{run_id}/results", params={"limit": 10_000}
        ).json()
        complete = [r for r in results if len(r.get("metrics", [])) >= metrics_per_result]
        if len(complete) >= expected:
            return results
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{len(complete)} of {expected} results with metrics after {timeout}s"
            )
        time.sleep(0.2)


def run_demo(
    base_url: str, api_key: str, timeout: float = 60.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, timeout=30, headers=headers) as client:
        prompt = ensure_prompt(client)
        response = client.post(
            "/api/v1/test_prompt", json=demo_run(prompt["current_version"]["id"])
        )
        response.raise_for_status()
        run: dict[str, Any] = response.json()
        run_id = run["id"] if "id" in run else run["run_id"]
        results = wait_for_results(
            client, run_id, expected=6, metrics_per_result=2, timeout=timeout
        )
        return client.get(f"/api/v1/test_prompt/{run_id}").json(), results
