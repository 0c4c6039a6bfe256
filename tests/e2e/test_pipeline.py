"""End to end: HTTP into query-api, through prompt-service, run-orchestrator and evaluator over
real Kafka, back out of query-api's read models. Every service is a real process."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from devstack.demo import run_demo
from devstack.services import Stack
from promptworks_contracts.topics import RUN_EVENTS
from tests.e2e.conftest import FAKE_API_KEY, unique
from tests.support.fake_openai import FakeOpenAI
from tests.support.otlp_receiver import OtlpReceiver, wait_for_trace

pytestmark = pytest.mark.e2e

SERVICES = ("prompt-service", "run-orchestrator", "evaluator", "query-api")


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    """A real OTLP/HTTP receiver: this module's services export their traces to it."""
    with OtlpReceiver().serving() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def service_env(receiver: OtlpReceiver) -> dict[str, str]:
    """Tracing on, through the standard variables only (the pipeline runs traced)."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within a fraction of a second
    }


async def create_prompt(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "name": unique("greeting"),
        "author": "e2e",
        "class_name": "e2e",
        "content": "Say hello to {{ name }}",
        "variables": [{"name": "name"}],
        **fields,
    }
    response = await client.post("/api/v1/prompts", json=body)
    assert response.status_code == 201, response.text  # read-your-writes: projected already
    prompt: dict[str, Any] = response.json()
    assert prompt["name"] == body["name"]
    return prompt


async def results_with_metrics(
    client: httpx.AsyncClient, run_id: str, expected: int, timeout: float = 60.0
) -> list[dict[str, Any]]:
    async with asyncio.timeout(timeout):
        while True:
            response = await client.get(f"/api/v1/test_prompt/{run_id}/results")
            assert response.status_code == 200, response.text
            results: list[dict[str, Any]] = response.json()
            if len(results) == expected and all(r["metrics"] for r in results):
                return results
            await asyncio.sleep(0.2)


async def finished_run(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    async with asyncio.timeout(60):
        while True:
            run: dict[str, Any] = (await client.get(f"/api/v1/test_prompt/{run_id}")).json()
            if run["status"] in ("completed", "failed") and run.get("evaluation_summary"):
                return run
            await asyncio.sleep(0.2)


@pytest.fixture
async def client(stack: Stack) -> Any:
    async with stack.api_client(timeout=30) as client:
        yield client


async def test_prompt_to_metrics_on_the_mock_model(client: httpx.AsyncClient) -> None:
    prompt = await create_prompt(client)
    response = await client.post(
        "/api/v1/test_prompt",
        json={
            "prompt_version_id": prompt["current_version"]["id"],
            "provider": "mock",
            "model_name": "echo",
            "repetitions": 2,
            "cases": [{"name": "Ada"}, {"name": "Grace"}],
            "assertions": [
                {"type": "contains", "value": "{{ name }}", "name": "mentions_name"},
                {"type": "contains", "value": "Linus", "name": "mentions_linus"},
            ],
        },
    )
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]

    results = await results_with_metrics(client, run_id, expected=4)
    assert [(r["case_index"], r["repetition"]) for r in results] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert results[0]["output"] == "Say hello to Ada"
    for result in results:
        metrics = {m["name"]: m for m in result["metrics"]}
        assert metrics["mentions_name"]["passed"] is True
        assert metrics["mentions_linus"]["passed"] is False
        assert metrics["latency_ms"]["value"] is not None
        assert metrics["total_tokens"]["value"] > 0

    run = await finished_run(client, run_id)
    assert run["status"] == "completed"
    assert (run["succeeded"], run["failed"]) == (4, 0)
    listed = (await client.get("/api/v1/test_prompt", params={"status": "completed"})).json()
    assert run_id in {r["id"] for r in listed}


async def test_prompt_to_metrics_through_an_openai_compatible_server(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, stack: Stack
) -> None:
    prompt = await create_prompt(client)
    response = await client.post(
        "/api/v1/test_prompt",
        json={
            "prompt_version_id": prompt["current_version"]["id"],
            "provider": "fake-openai",
            "model_name": "gpt-test",
            "temperature": 0.2,
            "cases": [{"name": "Ada"}],
            "assertions": [{"type": "contains", "value": "fake reply"}],
        },
    )
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]

    [result] = await results_with_metrics(client, run_id, expected=1)
    assert result["output"] == "fake reply to: Say hello to Ada"
    assert result["total_tokens"] > 0
    assert {m["name"]: m["passed"] for m in result["metrics"]}["contains_0"] is True
    sent = fake_openai.requests[-1]
    assert sent["model"] == "gpt-test" and sent["temperature"] == 0.2
    assert fake_openai.authorizations[-1] == f"Bearer {FAKE_API_KEY}"

    # The key reached the provider and nowhere else: not the API, not the logs.
    run = await finished_run(client, run_id)
    assert FAKE_API_KEY not in str(run)
    for spec in stack.specs:
        assert FAKE_API_KEY not in stack.log_file(spec.name).read_text()


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"prompt_version_id": "00000000-0000-0000-0000-000000000000"}, "prompt_version_id", 422),
        ({"repetitions": 1}, "prompt_version_id", 422),
    ],
)
async def test_bad_run_requests_name_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str, status: int
) -> None:
    response = await client.post("/api/v1/test_prompt", json=body)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field


async def test_repetitions_out_of_range_and_malformed_json(client: httpx.AsyncClient) -> None:
    prompt = await create_prompt(client)
    version_id = prompt["current_version"]["id"]
    for repetitions in (0, 51):
        response = await client.post(
            "/api/v1/test_prompt",
            json={"prompt_version_id": version_id, "repetitions": repetitions},
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "repetitions"
    response = await client.post(
        "/api/v1/test_prompt", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    before = (await client.get("/api/v1/test_prompt", params={"limit": 200})).json()
    assert all(r["prompt_version_id"] != version_id for r in before)  # nothing half-written


async def test_a_priced_run_by_label_in_a_batch_reports_its_cost(client: httpx.AsyncClient) -> None:
    prompt = await create_prompt(
        client,
        content="Say hello to {{ name }} ({{ n }})",
        variables=[{"name": "name"}, {"name": "n", "type": "integer"}],
    )
    batch = unique("batch")
    response = await client.post(
        "/api/v1/test_prompt",
        json={
            "prompt_id": prompt["id"],
            "label": "latest",
            "model_name": "priced",
            "cases_text": "name,n,expected\nAda,1,hi\nGrace,2,hi\n",
            "cases_format": "csv",
            "batch_id": batch,
            "max_tokens": 20,
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["label"] == "latest"
    assert created["status"] in ("queued", "running", "completed")  # it starts at once
    # Rendered prompts of 20 + 22 characters = 11 tokens in, 2 x 20 out: 11 x 3/1M + 40 x 15/1M.
    assert created["estimated_cost"] == {"amount": "0.000633", "currency": "USD"}
    run_id = created["id"]
    results = await results_with_metrics(client, run_id, expected=2)
    # Each result costs its own tokens at the snapshotted price.
    for result in results:
        expected_cost = (result["prompt_tokens"] * 3 + result["completion_tokens"] * 15) / 1_000_000
        assert float(result["cost"]["amount"]) == pytest.approx(expected_cost, abs=1e-12)
    run = await finished_run(client, run_id)
    total = sum(float(r["cost"]["amount"]) for r in results)
    assert float(run["cost"]["amount"]) == pytest.approx(total, abs=1e-12)
    listed = (await client.get("/api/v1/test_prompt", params={"batch_id": batch})).json()
    assert [r["id"] for r in listed] == [run_id]

    finished = await client.post(f"/api/v1/test_prompt/{run_id}/cancel")
    assert finished.status_code == 409, finished.text
    assert "run_finished" in finished.text
    typed = await client.post(
        "/api/v1/test_prompt",
        json={
            "prompt_version_id": prompt["current_version"]["id"],
            "cases": [{"name": "Ada", "n": "one"}],
        },
    )
    assert typed.status_code == 422 and "cases.0.n" in typed.text


async def test_a_batch_of_3_versions_x_2_models_x_2_parameter_sets(
    client: httpx.AsyncClient,
) -> None:
    prompt = await create_prompt(client)
    for text in ("Hi {{ name }}", "Hey there, {{ name }}"):
        added = await client.post(
            f"/api/v1/prompts/{prompt['id']}/versions",
            json={"content": text, "variables": [{"name": "name"}]},
        )
        assert added.status_code in (201, 200), added.text
    versions = (await client.get(f"/api/v1/prompts/{prompt['id']}/versions")).json()
    assert len(versions) == 3
    response = await client.post(
        "/api/v1/batches",
        json={
            "name": unique("matrix"),
            "versions": [{"prompt_version_id": v["id"]} for v in versions],
            "models": [
                {"provider": "mock", "model_name": "echo"},
                {"provider": "mock", "model_name": "priced"},
            ],
            "parameter_sets": [{"temperature": 0.0}, {"temperature": 1.0, "seed": 7}],
            "cases": [{"name": "Ada"}, {"name": "Grace"}],
            "repetitions": 2,
            "assertions": [{"type": "contains", "value": "{{ name }}"}],
            "metadata": {"sprint": 12, "job": "matrix"},
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["Location"].startswith("/api/v1/batches/")
    batch = response.json()
    assert batch["total_calls"] == 12 * 2 * 2 and len(batch["cells"]) == 12
    async with asyncio.timeout(60):
        while batch["status"] != "completed" or any(
            not c["evaluation_summary"] for c in batch["cells"]
        ):
            await asyncio.sleep(0.3)
            batch = (await client.get(f"/api/v1/batches/{batch['id']}")).json()
    assert batch["progress"] == 1.0 and batch["recorded"] == 48
    cells = {
        (c["prompt_version_number"], c["model_name"], c["parameters"]["temperature"]): c
        for c in batch["cells"]
    }
    assert len(cells) == 12 and all(c["status"] == "completed" for c in cells.values())
    # Only the priced mock costs money: the batch's spend is the sum of its six cells.
    priced = [c for c in batch["cells"] if c["model_name"] == "priced"]
    assert all(float(c["cost"]["amount"]) > 0 for c in priced)
    assert [m["currency"] for m in batch["cost"]] == ["USD"]
    spent = sum(float(c["cost"]["amount"]) for c in batch["cells"])
    assert float(batch["cost"][0]["amount"]) == pytest.approx(spent, abs=1e-12)
    runs = (await client.get("/api/v1/test_prompt", params={"batch_id": batch["id"]})).json()
    assert {r["id"] for r in runs} == {c["run_id"] for c in batch["cells"]}
    # The batch's free metadata is kept with each of its runs.
    assert all(r["metadata"] == {"sprint": 12, "job": "matrix"} for r in runs)
    listed = (await client.get("/api/v1/batches")).json()
    assert batch["id"] in {b["id"] for b in listed}


async def test_a_catalog_provider_registered_through_query_api_serves_a_run(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, stack: Stack
) -> None:
    name = f"acme-{uuid.uuid4().hex[:6]}"
    registered = await client.post(
        "/api/v1/providers",
        json={
            "name": name,
            "base_url": fake_openai.base_url,
            "api_key_env": "E2E_FAKE_API_KEY",
            "models": {
                "gpt-cat": {"pricing": {"input_per_million": "1", "output_per_million": "1"}}
            },
        },
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["credential"] == {"source": "env", "name": "E2E_FAKE_API_KEY"}
    listed = (await client.get("/api/v1/providers")).json()
    assert name in {p["name"] for p in listed}
    prompt = await create_prompt(client)
    before = len(fake_openai.authorizations)
    response = await client.post(
        "/api/v1/test_prompt",
        json={
            "prompt_version_id": prompt["current_version"]["id"],
            "provider": name,
            "model_name": "gpt-cat",
            "cases": [{"name": "Ada"}],
        },
    )
    assert response.status_code == 201, response.text
    run = await finished_run(client, response.json()["id"])
    assert run["status"] == "completed" and float(run["cost"]["amount"]) > 0
    assert fake_openai.authorizations[before:] == [f"Bearer {FAKE_API_KEY}"]
    assert FAKE_API_KEY not in registered.text + str(listed) + str(run)
    bad = await client.post("/api/v1/providers", json={"name": "x", "base_url": "ftp://x"})
    assert bad.status_code == 422 and "base_url" in bad.text
    # Each project has its own catalog (ADR 0017): query-api forwards X-Project, and from
    # another project this provider is not listed, not found, and its name is free.
    project = uuid.uuid4().hex[:12]
    other = {"X-Project": project}
    await ok(await client.post(f"{API}/projects", json={"id": project, "name": project}), 201)
    theirs = await ok(await client.get("/api/v1/providers", headers=other))
    assert name not in {p["name"] for p in theirs} and "mock" in {p["name"] for p in theirs}
    changed = await client.patch(
        f"/api/v1/providers/{name}", json={"timeout_seconds": 5}, headers=other
    )
    assert changed.status_code == 404, changed.text
    hidden = await client.delete(f"/api/v1/providers/{name}", headers=other)
    assert hidden.status_code == 404, hidden.text
    same_name = {"name": name, "base_url": fake_openai.base_url, "api_key_env": "E2E_FAKE_API_KEY"}
    await ok(await client.post("/api/v1/providers", json=same_name, headers=other), 201)
    gone = await client.delete(f"/api/v1/providers/{name}", headers=other)
    assert gone.status_code == 204, gone.text
    removed = await client.delete(f"/api/v1/providers/{name}")
    assert removed.status_code == 204


async def test_the_failed_calls_of_a_finished_run_are_retried_as_a_new_run(
    client: httpx.AsyncClient,
) -> None:
    prompt = await create_prompt(client)
    response = await client.post(
        "/api/v1/test_prompt",
        json={
            "prompt_version_id": prompt["current_version"]["id"],
            "provider": "mock",
            "model_name": "fail",  # the mock model that always fails
            "repetitions": 3,
            "cases": [{"name": "Ada"}],
        },
    )
    assert response.status_code == 201, response.text
    run = await finished_run(client, response.json()["id"])
    assert (run["status"], run["failed"]) == ("failed", 3)
    retried = await client.post(f"/api/v1/test_prompt/{run['id']}/retry")
    assert retried.status_code == 201, retried.text
    retry = retried.json()
    assert retry["retry_of"] == run["id"] and retry["total_calls"] == 3
    finished = await finished_run(client, retry["id"])
    assert finished["failed"] == 3  # the model still fails: nothing is hidden
    missing = await client.post(f"/api/v1/test_prompt/{uuid.uuid4()}/retry")
    assert missing.status_code == 404


async def test_a_cached_run_is_answered_from_the_first_runs_answers(
    client: httpx.AsyncClient,
) -> None:
    prompt = await create_prompt(client)
    body = {
        "prompt_version_id": prompt["current_version"]["id"],
        "model_name": "priced",
        "cases": [{"name": "Ada"}, {"name": "Grace"}],
        "cache": True,
    }
    first = (await client.post("/api/v1/test_prompt", json=body)).json()
    first_results = await results_with_metrics(client, first["id"], expected=2)
    second = (await client.post("/api/v1/test_prompt", json=body)).json()
    second_results = await results_with_metrics(client, second["id"], expected=2)
    assert not any(r["cached"] for r in first_results)
    assert all(r["cached"] and r["cost"]["amount"] == "0" for r in second_results)
    assert [r["output"] for r in second_results] == [r["output"] for r in first_results]


async def test_a_quick_test_streams_through_query_api(client: httpx.AsyncClient) -> None:
    prompt = await create_prompt(client)
    body = {
        "prompt_id": prompt["id"],
        "label": "latest",
        "variables": {"name": "Ada"},
        "model_name": "priced",
        "stream": True,
    }
    async with client.stream("POST", "/api/v1/quick-test", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = (await response.aread()).decode()
    blocks = [
        dict(line.split(": ", 1) for line in b.splitlines()) for b in text.strip().split("\n\n")
    ]
    assert [b["event"] for b in blocks][-1] == "done" and len(blocks) > 1
    done = json.loads(blocks[-1]["data"])
    assert done["output"] == "".join(json.loads(b["data"])["text"] for b in blocks[:-1])
    assert float(done["cost"]["amount"]) > 0 and done["label"] == "latest"
    refused = await client.post("/api/v1/quick-test", json={**body, "variables": {}})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "variables.name"


async def test_dead_letters_are_listed_with_their_reason_and_replays_report_failure(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    """An undecodable record on the run topic is dead-lettered by both of its consumers
    (evaluator, query-api); query-api lists both with the reason, one by one and per service,
    and a replay that still fails says why and leaves the letter open. (Successful replays, and
    that they apply exactly once, are proven in libs/eventkit/tests/test_dead_letters.py.)"""
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(f"{stack.topic_prefix}{RUN_EVENTS}", b"{oops", key=b"bad")
    finally:
        await producer.stop()

    async def undecodable() -> list[dict[str, Any]]:
        response = await client.get("/api/v1/admin/dead-letters")
        assert response.status_code == 200, response.text
        return [i for i in response.json()["items"] if i["reason"].startswith("undecodable")]

    async with asyncio.timeout(30):
        while len(letters := await undecodable()) < 2:
            await asyncio.sleep(0.2)
    assert sorted(i["service"] for i in letters) == ["evaluator", "query-api"]
    assert all(i["status"] == "open" and i["topic"] == RUN_EVENTS for i in letters)

    only = await client.get("/api/v1/admin/dead-letters", params={"service": "evaluator"})
    assert {i["service"] for i in only.json()["items"]} == {"evaluator"}
    for letter in letters:
        one = await client.get(f"/api/v1/admin/dead-letters/{letter['service']}/{letter['id']}")
        assert one.status_code == 200 and one.json() == letter

    evaluators = next(i for i in letters if i["service"] == "evaluator")
    replay = await client.post(
        f"/api/v1/admin/dead-letters/evaluator/{evaluators['id']}/replay",
        headers={"X-Actor": "ops"},
    )
    assert replay.status_code == 422, replay.text
    assert "stays open" in replay.json()["detail"]
    every = await client.post("/api/v1/admin/dead-letters/replay", headers={"X-Actor": "ops"})
    assert every.status_code == 200, every.text
    failed = {(f["service"], f["id"]) for f in every.json()["failed"]}
    assert {(i["service"], i["id"]) for i in letters} <= failed
    assert every.json()["replayed"] == []
    after = await undecodable()
    assert all(i["status"] == "open" and "undecodable" in i["replay_error"] for i in after)

    missing = await client.post("/api/v1/admin/dead-letters/query-api/999999999/replay")
    assert missing.status_code == 404
    unknown = await client.get("/api/v1/admin/dead-letters/prompt-service/1")
    assert unknown.status_code == 422  # prompt-service consumes nothing: no letters there


async def test_the_make_dev_demo_runs_with_the_bootstrap_admin_key(stack: Stack) -> None:
    """What ``make dev`` prints: the demo, authenticated with the key devstack gave query-api."""
    run, results = await asyncio.to_thread(run_demo, stack.url("query-api"), stack.admin_key)
    assert run["status"] == "completed"
    assert len(results) == 6 and all(r["metrics"] for r in results)
    async with httpx.AsyncClient(base_url=stack.url("query-api")) as anonymous:
        refused = await anonymous.get(f"/api/v1/test_prompt/{run['id']}")
        assert refused.status_code == 401


async def test_one_trace_spans_all_four_services_across_kafka(
    stack: Stack, receiver: OtlpReceiver
) -> None:
    """Request -> command -> relay -> Kafka -> consumer -> projection -> evaluation: one trace
    over the four processes, exported over OTLP/HTTP, parent links intact at every hop."""
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    headers = {"traceparent": f"00-{trace_id}-{caller_span}-01", "X-Correlation-ID": "trace-e2e"}
    async with stack.api_client(timeout=30, headers=headers) as client:
        prompt = await create_prompt(client)
        response = await client.post(
            "/api/v1/test_prompt",
            json={
                "prompt_version_id": prompt["current_version"]["id"],
                "provider": "mock",
                "model_name": "echo",
                "cases": [{"name": "Ada"}, {"name": "Grace"}],
                "assertions": [{"type": "contains", "value": "{{ name }}", "name": "names"}],
            },
        )
        assert response.status_code == 201, response.text
        await finished_run(client, response.json()["id"])

    trace = await wait_for_trace(
        receiver,
        trace_id,
        {
            "prompt-service/POST /prompts",
            "run-orchestrator/POST /runs",
            "run-orchestrator/promptworks.prompt process",
            "evaluator/promptworks.run process",
            "query-api/promptworks.run process",
            "query-api/promptworks.evaluation process",
        },
    )
    assert {s.service for s in trace.spans} == set(SERVICES)

    # Every processed event's span is the child of the send span that carried it over Kafka,
    # in the service that recorded it.
    producers = {"promptworks.prompt": "prompt-service", "promptworks.run": "run-orchestrator"}
    producers["promptworks.evaluation"] = "evaluator"
    processed = [s for s in trace.spans if s.name.endswith(" process")]
    assert len(processed) >= 6
    for span in processed:
        topic = span.attributes["messaging.destination.name"]
        send = trace.parent(span)
        assert (send.kind, send.service) == ("PRODUCER", producers[topic]), span
        assert send.name.endswith(f"{topic} send"), send.name
        assert span.kind == "CONSUMER"

    # One evaluation projected by query-api, traced back hop by hop to the caller's span.
    evaluation = trace.named("query-api", "promptworks.evaluation process")[0]
    ancestry = trace.ancestry(evaluation)
    assert [(service, kind) for service, kind, _ in ancestry] == [
        ("query-api", "CONSUMER"),  # the projection of the evaluation
        ("evaluator", "PRODUCER"),  # its relay's send
        ("evaluator", "CONSUMER"),  # the evaluation of a result
        ("run-orchestrator", "PRODUCER"),  # the result's send
        ("run-orchestrator", "INTERNAL"),  # the run's execution
        ("run-orchestrator", "SERVER"),  # the forwarded command
        ("query-api", "CLIENT"),  # query-api forwarding it
        ("query-api", "SERVER"),  # the public request
    ]
    assert [name for _, _, name in ancestry][4:6] == ["run execute", "POST /runs"]
    assert ancestry[-1][2] == "POST /api/v1/test_prompt"
    assert trace.root(evaluation).parent_span_id == caller_span

    # The prompt's creation: query-api -> prompt-service -> Kafka -> run-orchestrator's copy.
    copied = trace.named("run-orchestrator", "promptworks.prompt process")[0]
    assert ("prompt-service", "SERVER", "POST /prompts") in trace.ancestry(copied)

    # SQL is traced under the requests (asyncpg client spans).
    sql = [
        s
        for s in trace.spans
        if s.kind == "CLIENT" and any(k.startswith("db.") for k in s.attributes)
    ]
    assert {s.service for s in sql} >= {"prompt-service", "run-orchestrator", "query-api"}


# --- evaluator definitions, pinned runs, re-evaluation (ADR 0020) ------------------------------
# In this module to share its stack: definitions through query-api (versions, history, 4xx
# naming the field); a run pinned to its evaluator's latest version and judged by an LLM judge
# (the built-in mock model), then re-evaluated with a newer version without calling the model
# again; results, summary and comparison of either evaluation read back from query-api.

API = "/api/v1"
JUDGE = {
    "type": "llm_judge",
    "name": "judge",
    "provider": "mock",
    "model": "judge",
    "dimensions": [{"name": "clarity", "description": "easy to read"}],
    "threshold": 0,
}
POLITE = [{"type": "icontains", "value": "thank", "name": "polite"}]
FAST = {"type": "max_latency_ms", "threshold": 2000, "name": "fast"}
MENTIONS_ADA = {"type": "contains", "value": "Ada", "name": "mentions_ada"}
SAYS_HELLO = {"type": "contains", "value": "hello", "name": "says_hello"}


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def until(check: Any, timeout: float = 60.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            found = await check()
            if found:
                return found
            await asyncio.sleep(0.2)


async def test_a_pinned_judged_run_re_evaluated_with_a_new_version(
    client: httpx.AsyncClient,
) -> None:
    prompt = await ok(
        await client.post(
            f"{API}/prompts",
            json={
                "name": unique("greeting"),
                "author": "e2e",
                "content": "Say hello to {{ name }}",
                "variables": [{"name": "name"}],
            },
        ),
        201,
    )
    evaluator = await ok(
        await client.post(
            f"{API}/evaluators",
            json={"name": unique("greets"), "assertions": [MENTIONS_ADA, JUDGE]},
        ),
        201,
    )
    run = await ok(
        await client.post(
            f"{API}/test_prompt",
            json={
                "prompt_version_id": prompt["current_version"]["id"],
                "provider": "mock",
                "model_name": "echo",
                "cases": [{"name": "Ada"}, {"name": "Grace"}],
                "evaluator": {"evaluator_id": evaluator["id"], "version": "latest"},
            },
        ),
        201,
    )
    run_id = run["id"]
    pin = {"evaluator_id": evaluator["id"], "version": 1}
    assert run["evaluator"] == pin and [a["name"] for a in run["assertions"]] == [
        "mentions_ada",
        "judge",
    ]

    async def evaluated_run() -> Any:
        found = (await client.get(f"{API}/test_prompt/{run_id}")).json()
        return found if found.get("evaluation_summary") else None

    first = (await until(evaluated_run))["evaluation_summary"]
    assert first["pass_rate"] == 0.5 and first["evaluation_id"] is None
    # The judge was asked through run-orchestrator and scored each result (0-100).
    results = await ok(await client.get(f"{API}/test_prompt/{run_id}/results"))
    assert [r["passed"] for r in results] == [True, False]
    for result in results:
        [judgement] = result["judgements"]
        assert judgement["name"] == "judge" and judgement["error"] is None
        assert 0 <= judgement["score"] <= 100
    assert first["judge_tokens"]["total_tokens"] > 0

    # Version 2 (no judge: no judge call, no cost) re-evaluates the same outputs.
    await ok(
        await client.post(
            f"{API}/evaluators/{evaluator['id']}/versions", json={"assertions": [SAYS_HELLO]}
        ),
        201,
    )
    url = f"{API}/test_prompt/{run_id}/evaluations"
    asked = await client.post(url, json={"evaluator_id": evaluator["id"], "version": "latest"})
    requested = await ok(asked, 202)
    assert requested["evaluator"] == {"evaluator_id": evaluator["id"], "version": 2}
    again = await ok(await client.post(url, json={"evaluator_id": evaluator["id"], "version": 2}))
    assert again["id"] == requested["id"]

    async def both_evaluated() -> Any:
        found = (await client.get(url)).json()
        return found if all(e["status"] == "evaluated" for e in found) else None

    first_eval, second = await until(both_evaluated)
    assert (first_eval["id"], first_eval["first"], first_eval["evaluator"]) == (run_id, True, pin)
    assert (second["id"], second["latest"], second["summary"]["pass_rate"]) == (
        requested["id"],
        True,
        1.0,
    )
    # Default: the latest evaluation; ?evaluation= the run's id: the first, kept.
    latest = await ok(await client.get(f"{API}/test_prompt/{run_id}/results"))
    assert [r["passed"] for r in latest] == [True, True]
    assert [[m["name"] for m in r["metrics"] if m["name"] == "says_hello"] for r in latest] == [
        ["says_hello"],
        ["says_hello"],
    ]
    kept = await ok(
        await client.get(f"{API}/test_prompt/{run_id}/results", params={"evaluation": run_id})
    )
    assert [r["passed"] for r in kept] == [True, False] and kept[0]["judgements"]
    failing = await client.get(
        f"{API}/test_prompt/{run_id}/results", params={"evaluation": run_id, "passed": "false"}
    )
    assert [r["case_index"] for r in failing.json()] == [1]
    summary = (await client.get(f"{API}/test_prompt/{run_id}")).json()["evaluation_summary"]
    assert summary["evaluation_id"] == requested["id"] and summary["pass_rate"] == 1.0
    # The run (still the same outputs) under the new evaluation against the first one.
    compared = await ok(
        await client.get(
            f"{API}/test_prompt/{run_id}/compare",
            params={"baseline": run_id, "baseline_evaluation": run_id},
        )
    )
    assert compared["pass_rate"]["delta"] == 0.5
    assert compared["fixes"] == [{"case_index": 1, "repetition": 1}]
    unknown = await client.get(
        f"{API}/test_prompt/{run_id}/results", params={"evaluation": evaluator["id"]}
    )
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "evaluation"


async def test_evaluators_with_versions_and_history(client: httpx.AsyncClient) -> None:
    """Definitions through query-api into the evaluator, answered with query-api's projection
    (read your writes): versions, history, If-Match, 4xx naming the field."""
    name = unique("support answers")
    created = await client.post(
        f"{API}/evaluators",
        json={"name": name, "assertions": POLITE, "message": "first"},
        headers={"X-Actor": "ann"},
    )
    evaluator = await ok(created, 201)
    # Answered with the projection: it applied the command's events already.
    assert created.headers["Location"] == f"{API}/evaluators/{evaluator['id']}"
    assert evaluator["name"] == name and evaluator["latest_version"] == 1
    assert evaluator["latest"]["assertions"][0]["value"] == "thank"
    assert evaluator["stream_version"] == 2
    url = f"{API}/evaluators/{evaluator['id']}"

    stale = await client.post(
        f"{url}/versions", json={"assertions": [*POLITE, FAST]}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    second = await ok(
        await client.post(
            f"{url}/versions",
            json={"assertions": [*POLITE, FAST], "message": "and fast"},
            headers={"If-Match": '"2"', "X-Actor": "bob"},
        ),
        201,
    )
    assert second["latest_version"] == 2 and second["stream_version"] == 3
    assert [a["name"] for a in second["latest"]["assertions"]] == ["polite", "fast"]

    versions = await client.get(f"{url}/versions")
    assert versions.headers["X-Total-Count"] == "2"
    assert [v["version"] for v in versions.json()] == [2, 1]
    first = await ok(await client.get(f"{url}/versions/1"))
    assert first["assertions"] == evaluator["latest"]["assertions"]  # kept, unchanged
    history = await ok(await client.get(f"{url}/history"))
    assert [(h["kind"], h["version"], h["actor"], h["message"]) for h in history] == [
        ("created", None, "ann", ""),
        ("version_created", 1, "ann", "first"),
        ("version_created", 2, "bob", "and fast"),
    ]
    listed = await client.get(f"{API}/evaluators", params={"q": name})
    assert [e["id"] for e in listed.json()] == [evaluator["id"]]

    missing = await client.get(f"{url}/versions/9")
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "version"
    taken = await client.post(f"{API}/evaluators", json={"name": name, "assertions": POLITE})
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "name"
    bad = await client.post(
        f"{API}/evaluators",
        json={"name": "bad", "assertions": [{"type": "json_schema", "value": {"type": 7}}]},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"].startswith("assertions.0")


async def test_evaluators_belong_to_their_project(client: httpx.AsyncClient) -> None:
    """ADR 0017: names unique per project, another project's evaluator is a 404 everywhere,
    and a run cannot be pinned to it."""
    project = uuid.uuid4().hex[:12]
    other = {"X-Project": project}
    await ok(await client.post(f"{API}/projects", json={"id": project, "name": project}), 201)
    name = unique("tenant rules")
    mine = await ok(
        await client.post(f"{API}/evaluators", json={"name": name, "assertions": POLITE}), 201
    )
    theirs = await ok(
        await client.post(
            f"{API}/evaluators", json={"name": name, "assertions": POLITE}, headers=other
        ),
        201,
    )
    listed = await ok(await client.get(f"{API}/evaluators", params={"q": name}, headers=other))
    assert [e["id"] for e in listed] == [theirs["id"]]
    hidden = await client.get(f"{API}/evaluators/{mine['id']}", headers=other)
    assert hidden.status_code == 404
    assert hidden.json()["errors"][0]["field"] == "evaluator_id"
    prompt = await create_prompt(client, name=unique("tenant prompt"))
    pinned = await client.post(
        f"{API}/test_prompt",
        json={
            "prompt_version_id": prompt["current_version"]["id"],
            "cases": [{"name": "Ada"}],
            "evaluator": {"evaluator_id": theirs["id"]},
        },
    )
    assert pinned.status_code == 404, pinned.text
    assert pinned.json()["errors"][0]["field"] == "evaluator.evaluator_id"


async def test_embedding_similarity_then_advice_saved_as_a_new_version(
    client: httpx.AsyncClient,
) -> None:
    """Through query-api: a run with an embedding similarity (the mock's deterministic vectors)
    against each case's expected output; optimisation advice from the mock judge (structured
    output), listed and read; its revision saved as a new version of the run's prompt in one
    call, the version naming the advice; an anthropic embedding provider refused up front."""
    prompt = await create_prompt(client)
    similar = {
        "type": "embedding_similarity",
        "name": "close_to_expected",
        "provider": "mock",
        "model": "embed",
        "threshold": 0.99,
    }
    run = await ok(
        await client.post(
            f"{API}/test_prompt",
            json={
                "prompt_version_id": prompt["current_version"]["id"],
                "provider": "mock",
                "model_name": "echo",
                "cases": [
                    {"variables": {"name": "Ada"}, "expected": "Say hello to Ada"},
                    {"variables": {"name": "Grace"}, "expected": "Something else entirely"},
                ],
                "assertions": [similar],
            },
        ),
        201,
    )
    run_id = run["id"]
    results = await results_with_metrics(client, run_id, expected=2)
    values = [{m["name"]: m for m in r["metrics"]}["close_to_expected"] for r in results]
    assert values[0]["value"] == pytest.approx(1.0) and values[0]["passed"] is True
    assert values[1]["value"] < 0.99 and values[1]["passed"] is False
    await finished_run(client, run_id)

    url = f"{API}/test_prompt/{run_id}/advice"
    asked = await ok(
        await client.post(url, json={"provider": "mock", "model": "judge", "focus": "Grace"}), 202
    )
    assert asked["status"] in ("requested", "given") and asked["run_id"] == run_id

    async def given() -> Any:
        found = (await client.get(f"{url}/{asked['id']}")).json()
        return found if found["status"] != "requested" else None

    advice = await until(given)
    assert advice["status"] == "given", advice
    assert advice["evaluation_id"] == run_id  # the latest, here the run's first evaluation
    assert (advice["model"]["provider"], advice["model"]["name"]) == ("mock", "judge")
    assert advice["advice"]["prompt_revision"]["kind"] == "text"
    assert {"overall_advice", "parameter_advice", "model_advice", "validation_plan"} <= set(
        advice["advice"]
    )
    listed = await client.get(url)
    assert [a["id"] for a in listed.json()] == [asked["id"]]
    assert listed.headers["X-Total-Count"] == "1"

    saved = await ok(
        await client.post(f"{url}/{asked['id']}/apply", json={"label": "advised"}), 201
    )
    assert saved["id"] == prompt["id"] and saved["current_version"]["number"] == 2
    version = await ok(await client.get(f"{API}/prompts/{prompt['id']}/versions/2"))
    assert version["template"] == advice["advice"]["prompt_revision"]
    assert version["origin"] == {"kind": "advice", "advice_id": asked["id"], "run_id": run_id}
    assert version["label"] == "advised" and asked["id"] in version["commit_message"]
    assert version["variables"] == [
        {"name": "name", "type": "string", "required": True, "default": None, "choices": None}
    ]
    again = await ok(await client.get(f"{url}/{asked['id']}"))
    assert again["saved_versions"] == [{"prompt_id": prompt["id"], "number": 2}]

    unknown = await client.post(f"{url}/{uuid.uuid4()}/apply", json={})
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "advice_id"
    nowhere = {"provider": "mock", "model": "judge", "evaluation_id": str(uuid.uuid4())}
    unpinned = await client.post(url, json=nowhere)
    assert unpinned.status_code == 422
    assert unpinned.json()["errors"][0]["field"] == "evaluation_id"
    refused = await client.post(
        f"{API}/test_prompt",
        json={
            "prompt_version_id": prompt["current_version"]["id"],
            "provider": "mock",
            "model_name": "echo",
            "cases": [{"name": "Ada"}],
            "assertions": [{**similar, "provider": "nowhere"}],
        },
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "assertions.0.provider"
