"""Runs against a misbehaving provider, the provider metrics, and the shared rate limit held by
two real orchestrator processes together (real PostgreSQL and Kafka, loopback fake)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.credentials import service_headers
from tests.support.fake_openai import FakeOpenAI, serving_fake_openai
from tests.support.fake_replies import Reply, max_in_window
from tests.support.service_process import service_process

pytestmark = pytest.mark.integration

RESULT = "promptworks.run.result_recorded.v1"
KEY = "sk-limits-secret"


def providers(fake: FakeOpenAI, key: str = KEY, **extra: Any) -> dict[str, Any]:
    return {
        "fake": {
            "base_url": fake.base_url,
            "api_key": key,
            "retry_base_seconds": 0.01,
            "retry_max_seconds": 1.0,
            **extra,
        }
    }


def metric(text: str, name: str, **labels: str) -> float:
    """The sample's value in a Prometheus text exposition (0 when absent)."""
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return 0.0


async def test_a_run_rides_out_429_and_5xx_and_the_provider_metrics_move(harness: Any) -> None:
    version = await harness.publish_version("Hello {{ name }}")
    model = "gpt-metrics"
    async with serving_fake_openai() as fake, harness.client(providers=providers(fake)) as client:
        fake.then(Reply.rate_limited(retry_after=0.2), Reply.error(500), Reply.error(503))
        response = await client.post(
            "/runs",
            json={
                "prompt_version_id": str(version.version_id),
                "provider": "fake",
                "model_name": model,
                "cases": [{"name": f"n{i}"} for i in range(4)],
            },
        )
        assert response.status_code == 201, response.text
        stored = await harness.wait_finished(response.json()["run_id"])
        text = (await client.get("/metrics")).text

    results = [data for _, kind, data in stored if kind == RESULT]
    assert len(results) == 4 and all(r["error"] is None for r in results)
    assert stored[-1][2]["status"] == "completed" and stored[-1][2]["succeeded"] == 4
    assert len(fake.requests) == 7  # four calls, three of them answered badly once first
    labels = {"provider": "fake", "model": model}
    calls = "promptworks_provider_calls_total"
    assert metric(text, calls, **labels, outcome="ok") == 4
    assert metric(text, calls, **labels, outcome="rate_limited") == 1
    assert metric(text, calls, **labels, outcome="error") == 2
    retries = "promptworks_provider_retries_total"
    assert metric(text, retries, **labels, reason="rate_limited") == 1
    assert metric(text, retries, **labels, reason="server") == 2
    duration = "promptworks_provider_call_duration_seconds_count"
    assert metric(text, duration, **labels) == 7
    tokens = "promptworks_provider_tokens_total"
    assert metric(text, tokens, **labels, direction="prompt") == 4 * 2  # "Hello n0"
    assert metric(text, tokens, **labels, direction="completion") == 4 * 5
    assert "promptworks_runs_in_flight" in text
    assert KEY not in text


async def test_calls_failing_after_the_last_retry_are_failed_results(harness: Any) -> None:
    version = await harness.publish_version("Hello {{ name }}")
    async with (
        serving_fake_openai() as fake,
        harness.client(providers=providers(fake, max_retries=1, breaker_failures=100)) as client,
    ):
        fake.fail_with_status = 503
        response = await client.post(
            "/runs",
            json={
                "prompt_version_id": str(version.version_id),
                "provider": "fake",
                "model_name": "gpt-down",
                "cases": [{"name": "Ada"}, {"name": "Bo"}],
            },
        )
        stored = await harness.wait_finished(response.json()["run_id"])
    results = [data for _, kind, data in stored if kind == RESULT]
    assert len(fake.requests) == 4  # each call tried twice
    assert [r["output"] for r in results] == [None, None]
    assert all(r["error"].startswith("InternalServerError (HTTP 503)") for r in results)
    assert all(KEY not in r["error"] for r in results)
    assert stored[-1][2]["status"] == "failed"


LIMIT_PER_MINUTE = 120
CALLS_PER_PROCESS = 30


async def test_two_orchestrator_processes_together_keep_the_shared_rate_limit(
    harness: Any, tmp_path: Path
) -> None:
    """Each process executes its own run as fast as it may; the fake records when requests
    arrive. Alone, each would send 2 requests/s; together they must stay at 2/s."""
    version = await harness.publish_version("Hello {{ name }}")
    database_url = await harness.database_url()
    model = "gpt-limited"
    limits = {"models": {model: {"limits": {"requests_per_minute": LIMIT_PER_MINUTE}}}}
    async with serving_fake_openai() as fake:

        def env(key: str) -> dict[str, str]:
            configured = providers(fake, key=key, max_retries=0, **limits)
            return {"PROVIDERS": json.dumps(configured), "MAX_PARALLEL_RUNS": "1"}

        async with (
            service_process(
                "run-orchestrator", database_url, harness.kafka, tmp_path / "a", env=env("sk-a")
            ) as url_a,
            service_process(
                "run-orchestrator", database_url, harness.kafka, tmp_path / "b", env=env("sk-b")
            ) as url_b,
        ):
            run_ids = []
            for url in (url_a, url_b):
                async with httpx.AsyncClient(
                    base_url=url, timeout=60, headers=service_headers()
                ) as client:
                    response = await client.post(
                        "/runs",
                        json={
                            "prompt_version_id": str(version.version_id),
                            "provider": "fake",
                            "model_name": model,
                            "cases": [{"name": f"n{i}"} for i in range(CALLS_PER_PROCESS)],
                        },
                    )
                    assert response.status_code == 201, response.text
                    run_ids.append(response.json()["run_id"])
            for run_id in run_ids:
                stored = await harness.wait_finished(run_id, timeout=120, interval=0.5)
                assert stored[-1][2]["succeeded"] == CALLS_PER_PROCESS

    times = fake.request_times
    assert len(times) == 2 * CALLS_PER_PROCESS
    # Both processes called, and at the same time: the limit was shared, not taken in turns.
    by_key = {
        key: [t for t, a in zip(times, fake.authorizations, strict=True) if key in a]
        for key in ("sk-a", "sk-b")
    }
    assert all(len(v) == CALLS_PER_PROCESS for v in by_key.values())
    assert max(min(v) for v in by_key.values()) < min(max(v) for v in by_key.values())
    observed = {w: max_in_window(times, w) for w in (1.0, 5.0, 10.0, 20.0)}
    print(
        f"\nlimit {LIMIT_PER_MINUTE}/min, {len(times)} requests in "
        f"{max(times) - min(times):.2f} s; most in any window (s: requests): {observed}"
    )
    # The schedule paces starts 0.51 s apart (2 % headroom): a window of W seconds has about
    # 2 % of W of slack for jitter (0.2 s at 10 s). Windows of 10 s and 20 s must
    # hold the limit exactly. Shorter ones are reported only: on two cores shared with other
    # test sessions, scheduling delays of the three processes reach 0.1-0.15 s, which can bring
    # 3 requests within 1 s or 11 within 5 s.
    for window in (10.0, 20.0):
        assert observed[window] <= LIMIT_PER_MINUTE * window / 60.0, (window, observed)
