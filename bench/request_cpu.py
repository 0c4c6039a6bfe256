"""Per-request work of query-api's hottest reads, in-process: CPU ms and Python calls.

The app runs in this process (its consumer projects a 2,000-result run and 1,000 runs), called
through httpx's ASGI transport (no HTTP server), with a stored read key:

- a page of 50 results (`GET /test_prompt/{id}/results?limit=50&offset=100`),
- the run list's first page (`GET /test_prompt?limit=50`),
- the prompt list's first page (`GET /api/v1/prompts?limit=50`; by default no prompts, the
  framework's share; `--prompts N` loads N prompts of `bench.prompt_data`'s catalogue first),
- the prompt list searched for a typo (`?q=sumarize`, ranked by relevance),
- `GET /healthz` (the middleware stack and routing alone).

Per scenario: CPU ms per request (``time.process_time``, the lowest and the median of
``--rounds`` rounds) and Python function calls per request (counted by cProfile over one more
round: deterministic, so comparable across runs on a loaded machine where CPU time is not). Both
include the httpx client's share (about 600 calls per request; ``/healthz`` shows the floor).
``--profile DIR`` keeps each scenario's profile.

    uv run python -m bench.request_cpu [--requests 100] [--rounds 6] [--profile DIR] [--prompts N]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bench.prompt_data import produce_catalogue
from bench.results_read import produce, run_events, wait_projected
from bench.runs_read import run_events as many_runs
from query_api.app import create_app
from query_api.settings import QueryApiSettings
from tests.support.credentials import ADMIN_KEY, admin_headers
from tests.support.infra import (
    create_database,
    drop_database,
    isolated_kafka,
    migrate,
    start_infra,
)


async def measure(requests: int, rounds: int, profile_dir: Path, prompts: int) -> dict[str, Any]:
    infra = start_infra()
    kafka = await isolated_kafka(infra)
    url = await create_database(infra, "query_api_request_cpu")
    try:
        await migrate("query-api", url)
        run_id, events = run_events(2000)
        _, runs = many_runs(1000)
        await produce(kafka, events + runs)
        catalogue = await produce_catalogue(kafka, prompts) if prompts else None
        settings = QueryApiSettings(
            database_url=SecretStr(url),
            kafka=kafka,
            bootstrap_admin_key=SecretStr(ADMIN_KEY),
            rate_limit_per_minute=0,
            log_level="WARNING",
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            await wait_projected(
                url, len(events) + len(runs) + (catalogue.events if catalogue else 0)
            )
            transport = httpx.ASGITransport(app=app)
            base = "http://query-api"
            async with httpx.AsyncClient(
                transport=transport, base_url=base, headers=admin_headers()
            ) as admin:
                created = await admin.post(
                    "/api/v1/api-keys", json={"name": "bench", "scopes": ["read"]}
                )
                headers = {"Authorization": f"Bearer {created.json()['secret']}"}
            scenarios: dict[str, tuple[str, dict[str, Any]]] = {
                "results page": (
                    f"/api/v1/test_prompt/{run_id}/results",
                    {"limit": 50, "offset": 100},
                ),
                "run list": ("/api/v1/test_prompt", {"limit": 50}),
                "prompt list": ("/api/v1/prompts", {"limit": 50}),
                # A typo of a word in names (bench.prompt_list's TYPOS), ranked by relevance.
                "prompt search": ("/api/v1/prompts", {"limit": 50, "q": "sumarize"}),
                "healthz": ("/healthz", {}),
            }
            report: dict[str, Any] = {}
            async with httpx.AsyncClient(
                transport=transport, base_url=base, headers=headers
            ) as client:

                async def batch(path: str, params: dict[str, Any]) -> None:
                    for _ in range(requests):
                        answer = await client.get(path, params=params)
                        assert answer.status_code == 200, answer.text[:300]

                for path, params in scenarios.values():
                    await batch(path, params)  # warm-up
                samples: dict[str, list[float]] = {name: [] for name in scenarios}
                for _ in range(rounds):  # interleaved, so load swings hit every scenario
                    for name, (path, params) in scenarios.items():
                        started = time.process_time()
                        await batch(path, params)
                        samples[name].append((time.process_time() - started) * 1000 / requests)
                for name, (path, params) in scenarios.items():
                    profiler = cProfile.Profile(time.process_time)
                    profiler.enable()
                    await batch(path, params)
                    profiler.disable()
                    stats_file = profile_dir / f"{name.replace(' ', '_')}.prof"
                    profiler.dump_stats(stats_file)
                    calls = pstats.Stats(str(stats_file)).total_calls  # type: ignore[attr-defined]
                    report[name] = {
                        "cpu_ms_min": round(min(samples[name]), 2) if rounds else None,
                        "cpu_ms_median": round(statistics.median(samples[name]), 2)
                        if rounds
                        else None,
                        "python_calls": round(calls / requests),
                    }
    finally:
        await drop_database(infra, url)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100, help="per scenario and round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--profile", type=Path, help="keep each scenario's cProfile stats here")
    parser.add_argument("--prompts", type=int, default=0, help="prompts in the catalogue")
    args = parser.parse_args()
    load = [round(x, 1) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as scratch:
        target = args.profile or Path(scratch)
        target.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(measure(args.requests, args.rounds, target, args.prompts))
    print(
        json.dumps(
            {
                "nproc": os.cpu_count(),
                "load_average_at_start": load,
                "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
                "prompts": args.prompts,
                "per_request": result,
            },
            indent=2,
        )
    )
