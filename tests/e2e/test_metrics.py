"""Every service's ``/metrics`` during a real run: the series the dashboard and the alert rules
use exist and move (four real processes on real Kafka and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.services import Stack
from tests.deploy.observability import (
    PROMETHEUS_SERIES,
    referenced_metrics,
    sample_names,
)
from tests.e2e.test_pipeline import create_prompt, finished_run
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_replies import Reply

pytestmark = pytest.mark.e2e

SERVICES = ("prompt-service", "run-orchestrator", "evaluator", "query-api")
COMMAND_SERVICES = ("prompt-service", "run-orchestrator", "evaluator")
CASES, REPETITIONS = 3, 2
RESULT_RECORDED = "promptworks.run.result_recorded.v1"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Scrape:
    def __init__(self, text: str) -> None:
        families = list(text_string_to_metric_families(text))
        self.samples: Samples = {
            (s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples
        }
        self.exposed: set[str] = set().union(*(sample_names(f.name, f.type) for f in families))

    def value(self, name: str, **labels: str) -> float:
        """The sum of ``name`` over the series whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= ls)

    def series(self, name: str) -> list[dict[str, str]]:
        return [dict(ls) for (n, ls) in self.samples if n == name]


async def scrape(stack: Stack) -> dict[str, Scrape]:
    async with httpx.AsyncClient(timeout=10) as client:
        answers = await asyncio.gather(
            *(client.get(f"{stack.url(name)}/metrics") for name in SERVICES)
        )
    for answer in answers:
        assert answer.status_code == 200
    return {name: Scrape(a.text) for name, a in zip(SERVICES, answers, strict=True)}


async def eventually(check: Callable[[], Awaitable[None]], timeout: float = 30.0) -> None:
    """Retries ``check`` until it passes; after ``timeout`` its last failure is the answer."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await check()
            return
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.25)


async def test_every_service_exports_its_series_and_they_move_during_a_run(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    before = await scrape(stack)
    async with stack.api_client(timeout=30) as client:
        prompt = await create_prompt(client)
        # The priced mock model: tokens and cost move with the calls.
        response = await client.post(
            "/api/v1/test_prompt",
            json={
                "prompt_version_id": prompt["current_version"]["id"],
                "provider": "mock",
                "model_name": "priced",
                "repetitions": REPETITIONS,
                "cases": [{"name": f"case {i}"} for i in range(CASES)],
            },
        )
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]
        await finished_run(client, run_id)
        assert (await client.get("/api/v1/no-such-route")).status_code == 404
        # A provider that answers 429, then 500, then slowly: the outcomes and retries move,
        # and the run is in flight while its last attempt is pending.
        fake_openai.then(Reply.rate_limited(retry_after=0.01), Reply.error(500), Reply.ok(2.0))
        response = await client.post(
            "/api/v1/test_prompt",
            json={
                "prompt_version_id": prompt["current_version"]["id"],
                "provider": "fake-openai",
                "model_name": "gpt-metrics",
                "cases": [{"name": "slow"}],
            },
        )
        assert response.status_code == 201, response.text
        await eventually(runs_in_flight_is(stack, 1))
        assert (await finished_run(client, response.json()["id"]))["status"] == "completed"
    results = CASES * REPETITIONS + 1

    async def settled() -> None:
        after = await scrape(stack)
        check_http(before, after, run_id, prompt["id"])
        check_consumers(before, after)
        check_outboxes(before, after)
        check_provider_calls(before, after)
        evaluated = "promptworks_evaluator_results_evaluated_total"
        delta = after["evaluator"].value(evaluated) - before["evaluator"].value(evaluated)
        assert delta == results

    await eventually(settled)
    await eventually(runs_in_flight_is(stack, 0))

    # What the dashboard and the alert rules use is what the running services expose.
    exposed = set().union(*(s.exposed for s in (await scrape(stack)).values()))
    missing = referenced_metrics().keys() - exposed - PROMETHEUS_SERIES
    assert missing == set()


def delta(before: dict[str, Scrape], after: dict[str, Scrape], service: str, name: str,
          **labels: str) -> float:  # fmt: skip
    return after[service].value(name, **labels) - before[service].value(name, **labels)


def runs_in_flight_is(stack: Stack, runs: int) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        now = (await scrape(stack))["run-orchestrator"]
        assert now.value("promptworks_runs_in_flight") == runs

    return check


def check_provider_calls(before: dict[str, Scrape], after: dict[str, Scrape]) -> None:
    """Calls, latency, errors, 429s, retries, tokens and cost, by provider and model."""
    calls = "promptworks_provider_calls_total"
    priced = {"provider": "mock", "model": "priced"}
    fake = {"provider": "fake-openai", "model": "gpt-metrics"}
    service = "run-orchestrator"
    assert delta(before, after, service, calls, outcome="ok", **priced) == CASES * REPETITIONS
    duration = "promptworks_provider_call_duration_seconds_count"
    assert delta(before, after, service, duration, **priced) == CASES * REPETITIONS
    for direction in ("prompt", "completion"):
        tokens = delta(
            before, after, service, "promptworks_provider_tokens_total", direction=direction,
            **priced,
        )  # fmt: skip
        assert tokens > 0, direction
    cost = "promptworks_provider_cost_total"
    assert delta(before, after, service, cost, currency="USD", **priced) > 0
    # Each attempt is counted once, by outcome; the 429 and the 500 were retried.
    for outcome in ("rate_limited", "error", "ok"):
        assert delta(before, after, service, calls, outcome=outcome, **fake) == 1, outcome
    assert delta(before, after, service, duration, **fake) == 3
    retries = "promptworks_provider_retries_total"
    assert delta(before, after, service, retries, reason="rate_limited", **fake) == 1
    assert delta(before, after, service, retries, reason="server", **fake) == 1
    # A run without a price costs nothing: no series for it.
    assert delta(before, after, service, cost, **fake) == 0


def check_http(
    before: dict[str, Scrape], after: dict[str, Scrape], run_id: str, prompt_id: str
) -> None:
    requests = "promptworks_http_requests_total"
    duration = "promptworks_http_request_duration_seconds_count"
    moved: dict[str, Any] = {
        # The public writes, and their forwarded halves in the command services.
        "query-api": [("POST", "/api/v1/prompts", "201"), ("POST", "/api/v1/test_prompt", "201")],
        "prompt-service": [("POST", "/prompts", "201")],
        "run-orchestrator": [("POST", "/runs", "201")],
    }
    for service, expected in moved.items():
        for method, route, status in expected:
            labels = {"method": method, "route": route, "status": status}
            assert delta(before, after, service, requests, **labels) >= 1, (service, labels)
            assert delta(before, after, service, duration, **labels) >= 1, (service, labels)
    # The run was polled by its id: counted under the route template, never the raw path.
    assert delta(
        before, after, "query-api", requests, method="GET", route="/api/v1/test_prompt/{run_id}"
    ) >= 1  # fmt: skip
    assert delta(
        before, after, "query-api", requests, route="<unmatched>", status="404"
    ) == 1  # fmt: skip
    for service in SERVICES:
        routes = {s["route"] for s in after[service].series(requests)}
        assert "/readyz" in routes, service  # every service counts its requests
        assert not any(run_id in r or prompt_id in r for r in routes), routes


def check_consumers(before: dict[str, Scrape], after: dict[str, Scrape]) -> None:
    applied = "promptworks_consumer_events_applied_total"
    query = {"consumer": "query-api.projections"}
    assert delta(before, after, "query-api", applied, type=RESULT_RECORDED, **query) == (
        CASES * REPETITIONS + 1
    )
    assert delta(before, after, "evaluator", applied, consumer="evaluator.runs") > 0
    assert delta(
        before, after, "run-orchestrator", applied, consumer="run-orchestrator.prompt-versions"
    ) >= 1  # fmt: skip
    # Projection lag: one series per topic and partition query-api owns; caught up by now.
    lag = after["query-api"].series("promptworks_consumer_lag_events")
    assert {s["topic"] for s in lag} == {
        "promptworks.prompt",
        "promptworks.run",
        "promptworks.evaluation",
    }
    assert all(s["partition"].isdigit() for s in lag)
    assert after["query-api"].value("promptworks_consumer_lag_events") == 0
    # Every batch's transaction is timed, sized and aged once; its records include every
    # event applied (and any duplicates skipped).
    batches = delta(before, after, "query-api", "promptworks_consumer_batch_duration_seconds_count",
                    **query)  # fmt: skip
    assert batches > 0
    for histogram in ("batch_records", "applied_age_seconds"):
        name = f"promptworks_consumer_{histogram}_count"
        assert delta(before, after, "query-api", name, **query) == batches, histogram
    records = delta(before, after, "query-api", "promptworks_consumer_batch_records_sum", **query)
    assert records >= delta(before, after, "query-api", applied, **query)
    age = delta(before, after, "query-api", "promptworks_consumer_applied_age_seconds_sum", **query)
    assert 0 < age / batches < 60  # seconds: a fresh event's, not an epoch timestamp's
    # Nothing was dead-lettered (the series exists once something is: zero here).
    for service in SERVICES:
        assert after[service].value("promptworks_consumer_dead_letters_total") == 0


def check_outboxes(before: dict[str, Scrape], after: dict[str, Scrape]) -> None:
    for service in COMMAND_SERVICES:
        published = delta(before, after, service, "promptworks_outbox_published_total")
        assert published > 0, service
        # Every published row had its relay latency observed.
        latencies = delta(before, after, service, "promptworks_outbox_relay_latency_seconds_count")
        assert latencies == published, service
        assert delta(before, after, service, "promptworks_outbox_relay_latency_seconds_sum") > 0
        # The backlog is measured and drained.
        assert after[service].series("promptworks_outbox_backlog_events") == [{}]
        assert after[service].value("promptworks_outbox_backlog_events") == 0
        assert after[service].value("promptworks_outbox_oldest_unpublished_age_seconds") == 0
    # query-api records no events: it has no relay, so its outbox series never move.
    assert delta(before, after, "query-api", "promptworks_outbox_published_total") == 0
