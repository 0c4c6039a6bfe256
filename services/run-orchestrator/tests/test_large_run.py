"""10,000 cases in one request on the mock provider: accepted, executed, recorded in batches.

Prints the orchestrator's own throughput (POST until RunCompleted is in the event store):
    uv run pytest services/run-orchestrator/tests/test_large_run.py -s
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest

from promptworks_contracts.values import VariableSpec

pytestmark = pytest.mark.integration

CASES = 10_000


async def test_ten_thousand_cases_run_in_batches(harness: Any) -> None:
    version = await harness.publish_version(
        "Describe {{ city }} in one line", variables=[VariableSpec(name="city")]
    )
    body = {
        "prompt_version_id": str(version.version_id),
        "cases": [{"city": f"city-{i}"} for i in range(CASES)],
        "assertions": [{"type": "contains", "value": "{{ city }}"}],
    }
    async with harness.client() as client:
        # Let the consumer copy the version first, so only the run itself is timed.
        warmup = await client.post("/runs", json={**body, "cases": body["cases"][:1]})
        assert warmup.status_code == 201, warmup.text
        await harness.wait_finished(warmup.json()["run_id"])

        started = time.perf_counter()
        response = await client.post("/runs", json=body)
        assert response.status_code == 201, response.text
        accepted = time.perf_counter() - started
        run_id = response.json()["run_id"]
        stored = await harness.wait_finished(run_id, timeout=120, interval=0.02)
        elapsed = time.perf_counter() - started
        # Kafka took every event, the RunCreated carrying all 10,000 cases included.
        async with asyncio.timeout(60):
            while await harness.fetchval("SELECT count(*) FROM outbox"):
                await asyncio.sleep(0.1)

    kinds = Counter(kind.split(".")[2] for _, kind, _ in stored)
    progressed = kinds.pop("progressed", 0)  # RunProgressed: a few a second while it lasts
    assert kinds == {"created": 1, "started": 1, "result_recorded": CASES, "completed": 1}
    assert stored[-1][2]["succeeded"] == CASES
    assert [v for v, _, _ in stored] == list(range(1, CASES + 4 + progressed))
    batches = await harness.fetchval(
        "SELECT count(DISTINCT recorded_at) FROM events WHERE stream_id = $1 AND version > 2",
        run_id,
    )
    assert batches <= CASES / 100  # recorded in batches, never one transaction per result
    print(
        f"\n{CASES} cases: accepted in {accepted:.2f}s, RunCompleted after {elapsed:.2f}s "
        f"= {CASES / elapsed:.0f} cases/s ({batches} result batches)"
    )
