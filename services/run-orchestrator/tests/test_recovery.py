"""Restarts and replicas: unfinished runs resume, no (case, repetition) is recorded twice."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from devstack.services import _alive
from promptworks_eventkit.db import asyncpg_dsn
from run_orchestrator.adapters.locks import lock_key
from tests.support.credentials import service_headers
from tests.support.service_process import service_process

pytestmark = pytest.mark.integration

RESULT = "promptworks.run.result_recorded.v1"
SLOW = {"mock_latency_ms": 100.0, "mock_max_concurrency": 4, "flush_size": 5}


def assert_complete_once(stored: list[tuple[int, str, dict[str, Any]]], total: int) -> None:
    assert [version for version, _, _ in stored] == list(range(1, len(stored) + 1))
    kinds = Counter(kind.split(".")[2] for _, kind, _ in stored)
    kinds.pop("progressed", None)  # RunProgressed: a few a second while the run lasts
    assert kinds == {"created": 1, "started": 1, "result_recorded": total, "completed": 1}
    pairs = [(d["case_index"], d["repetition"]) for _, kind, d in stored if kind == RESULT]
    assert len(set(pairs)) == len(pairs) == total
    assert stored[-1][2]["succeeded"] == total


async def recorded(harness: Any, run_id: str) -> int:
    query = "SELECT recorded FROM runs WHERE run_id = $1"
    return int(await harness.fetchval(query, uuid.UUID(run_id)))


async def test_a_crashed_orchestrator_resumes_the_run_without_duplicates(
    harness: Any, tmp_path: Path
) -> None:
    """The first orchestrator is a real process, killed with SIGKILL mid-run (no shutdown, no
    flush of the results it holds, its run lock released only by PostgreSQL noticing the dead
    connection); a new one finishes the run with every (case, repetition) once."""
    version = await harness.publish_version("Hello {{ name }}")
    cases = [{"name": f"n{i}"} for i in range(20)]
    slow = {"MOCK_LATENCY_MS": "100", "MOCK_MAX_CONCURRENCY": "4", "FLUSH_SIZE": "5"}
    url = await harness.database_url()
    async with (
        service_process("run-orchestrator", url, harness.kafka, tmp_path, env=slow) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30, headers=service_headers()) as client,
    ):
        response = await client.post(
            "/runs",
            json={"prompt_version_id": str(version.version_id), "cases": cases, "repetitions": 3},
        )
        assert response.status_code == 201, response.text
        run_id = response.json()["run_id"]
        async with asyncio.timeout(30):
            while await recorded(harness, run_id) < 10:
                await asyncio.sleep(0.02)
        pid = int((tmp_path / "run-orchestrator.pid").read_text())
        os.killpg(pid, signal.SIGKILL)  # the process group: uvicorn and the app
        async with asyncio.timeout(10):
            while _alive(pid):
                await asyncio.sleep(0.02)
    done_before = await recorded(harness, run_id)
    assert 10 <= done_before < 60
    assert await harness.fetchval("SELECT status FROM runs") == "running"

    async with harness.client() as client:
        stored = await harness.wait_finished(run_id)
    assert_complete_once(stored, 60)
    assert await harness.fetchval("SELECT count(*) FROM run_results") == 60
    assert await harness.fetchval("SELECT status FROM runs") == "completed"


async def test_the_executing_process_holds_the_run_lock(harness: Any) -> None:
    version = await harness.publish_version("Hi", variables=[])
    async with harness.client(**SLOW) as client:
        response = await client.post(
            "/runs", json={"prompt_version_id": str(version.version_id), "repetitions": 40}
        )
        run_id = uuid.UUID(response.json()["run_id"])
        async with asyncio.timeout(30):
            while await recorded(harness, str(run_id)) < 5:
                await asyncio.sleep(0.02)
        probe = await asyncpg.connect(asyncpg_dsn(await harness.database_url()))
        try:
            # Another replica would not get the lock while this one executes the run ...
            assert not await probe.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(run_id))
            await harness.wait_finished(str(run_id))
            # ... and gets it once the run is finished (the executor released it).
            async with asyncio.timeout(10):
                while not await probe.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(run_id)):
                    await asyncio.sleep(0.05)
        finally:
            await probe.close()


async def test_two_replicas_share_runs_without_double_execution(harness: Any) -> None:
    version = await harness.publish_version("Hello {{ name }}")
    body = {
        "prompt_version_id": str(version.version_id),
        "cases": [{"name": f"n{i}"} for i in range(10)],
        "repetitions": 2,
    }
    settings = {"mock_latency_ms": 20.0, "mock_max_concurrency": 4, "flush_size": 7}
    async with harness.client(**settings) as first, harness.client(**settings) as second:
        run_ids = [
            (await (first if i % 2 else second).post("/runs", json=body)).json()["run_id"]
            for i in range(6)
        ]
        for run_id in run_ids:
            assert_complete_once(await harness.wait_finished(run_id), 20)


async def test_a_run_whose_provider_is_gone_fails(harness: Any) -> None:
    version = await harness.publish_version("Hi", variables=[])
    busy = {"max_parallel_runs": 1, "mock_latency_ms": 500.0, "mock_max_concurrency": 1}
    gone = {"gone": {"base_url": "http://127.0.0.1:9/v1"}}
    async with harness.client(**busy, providers=gone) as client:
        # The only run slot is busy, so the second run is still pending at shutdown.
        slow = await client.post(
            "/runs", json={"prompt_version_id": str(version.version_id), "repetitions": 20}
        )
        stranded = await client.post(
            "/runs", json={"prompt_version_id": str(version.version_id), "provider": "gone"}
        )
        assert slow.status_code == stranded.status_code == 201
        await asyncio.sleep(0.3)
        status = "SELECT status FROM runs WHERE run_id = $1"
        assert await harness.fetchval(status, uuid.UUID(stranded.json()["run_id"])) == "queued"

    async with harness.client() as client:  # restarted without the `gone` provider
        failed = await harness.wait_finished(stranded.json()["run_id"])
        finished = await harness.wait_finished(slow.json()["run_id"])
    assert [kind.split(".")[2] for _, kind, _ in failed] == ["created", "failed"]
    assert failed[-1][2]["reason"] == "provider 'gone' is not configured"
    assert_complete_once(finished, 20)
