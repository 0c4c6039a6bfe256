"""Nothing lost, nothing doubled: the Kafka broker is killed (-9) and restarted in the middle of
a run, with all four services running as real processes. The run still ends with every result
and every metric in query-api exactly once.

This test owns a private PostgreSQL + Kafka (deploy/local/infra.sh on free ports) so it can kill
the broker without disturbing the other tests.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.services import REPO, Stack, default_specs
from tests.support.fake_openai import free_port

pytestmark = pytest.mark.e2e

CASES = 1500


class PrivateInfra:
    def __init__(self, state_dir: Path) -> None:
        self.pg_port, self.kafka_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "PROMPTWORKS_STATE_DIR": str(state_dir),
            "PROMPTWORKS_PG_PORT": str(self.pg_port),
            "PROMPTWORKS_KAFKA_PORT": str(self.kafka_port),
            "PROMPTWORKS_KAFKA_CONTROLLER_PORT": str(free_port()),
            "PROMPTWORKS_PG_FAST": "1",
        }
        self.kafka_pid_file = state_dir / "kafka" / "kafka.pid"

    def run(self, command: str) -> None:
        script = REPO / "deploy/local/infra.sh"
        subprocess.run(["bash", str(script), command], env=self.env, check=True)

    def kill_broker(self) -> None:
        pid = int(self.kafka_pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture(scope="module")
def private_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateInfra]:
    infra = PrivateInfra(tmp_path_factory.mktemp("private-infra"))
    infra.run("up")
    try:
        yield infra
    finally:
        infra.run("reset")


@pytest.fixture(scope="module")
async def private_stack(
    private_infra: PrivateInfra, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    specs = [type(s)(s.name, s.module, s.database, free_port()) for s in default_specs()]
    stack = Stack(
        database_url_base=f"postgresql+asyncpg://promptworks:promptworks@127.0.0.1:{private_infra.pg_port}",
        kafka_bootstrap_servers=f"127.0.0.1:{private_infra.kafka_port}",
        run_dir=tmp_path_factory.mktemp("private-stack"),
        specs=specs,
        # Slow, bounded calls so that the run is still going when the broker dies.
        extra_env={"run-orchestrator": {"MOCK_LATENCY_MS": "20", "MOCK_MAX_CONCURRENCY": "10"}},
    )
    await asyncio.to_thread(stack.migrate)
    await asyncio.to_thread(stack.create_topics)
    stack.start_all()
    try:
        await asyncio.to_thread(stack.wait_ready)
        yield stack
    finally:
        stack.stop_all()


async def run_state(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/test_prompt/{run_id}")
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


async def test_broker_killed_and_restarted_mid_run_loses_and_doubles_nothing(
    private_stack: Stack, private_infra: PrivateInfra
) -> None:
    async with private_stack.api_client(timeout=30) as client:
        prompt = await client.post(
            "/api/v1/prompts",
            json={"name": "restart", "content": "Say {{ word }}", "variables": [{"name": "word"}]},
        )
        assert prompt.status_code == 201, prompt.text
        response = await client.post(
            "/api/v1/test_prompt",
            json={
                "prompt_version_id": prompt.json()["current_version"]["id"],
                "cases": [{"word": f"w{i}"} for i in range(CASES)],
                "assertions": [{"type": "contains", "value": "{{ word }}"}],
            },
        )
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]

        async with asyncio.timeout(60):
            while (await run_state(client, run_id))["recorded"] < 200:
                await asyncio.sleep(0.1)
        assert (await run_state(client, run_id))["recorded"] < CASES  # truly mid-run
        await asyncio.to_thread(private_infra.kill_broker)
        await asyncio.sleep(3)  # the services keep working (and failing to publish) meanwhile
        await asyncio.to_thread(private_infra.run, "up")

        async with asyncio.timeout(180):
            while True:
                state = await run_state(client, run_id)
                if state["status"] == "completed" and state.get("evaluation_summary"):
                    break
                await asyncio.sleep(0.5)
        assert (state["recorded"], state["succeeded"], state["failed"]) == (CASES, CASES, 0)

        page = await client.get(f"/api/v1/test_prompt/{run_id}/results", params={"limit": 10_000})
        results = page.json()
        assert page.headers["X-Total-Count"] == str(CASES)
        pairs = {(r["case_index"], r["repetition"]) for r in results}
        assert pairs == {(i, 1) for i in range(CASES)}  # every call once, none twice
        assert all(
            {m["name"]: m["passed"] for m in r["metrics"]}["contains_0"] is True for r in results
        )
