"""POST /runs end to end on the mock provider, on real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptworks_contracts.values import VariableSpec
from tests.support.credentials import service_headers
from tests.support.fake_openai import free_port
from tests.support.service_process import service_process

pytestmark = pytest.mark.integration

RESULT = "promptworks.run.result_recorded.v1"


async def test_run_on_mock_publishes_its_whole_lifecycle(harness: Any) -> None:
    version = await harness.publish_version("Hello {{ name }}")
    async with harness.client() as client:
        response = await client.post(
            "/runs",
            json={
                "prompt_version_id": str(version.version_id),
                "cases": [{"name": "Ann"}, {"name": "Bo"}, {"name": "Cy"}],
                "repetitions": 2,
                "temperature": 0.2,
                "assertions": [{"type": "contains", "value": "Hello"}],
                "schema": {"type": "string"},
                "notes": "smoke",
                "batch_id": "b-1",
                "metadata": {"ticket": "PW-12", "tags": ["ui"], "draft": {"step": 2}},
            },
            headers={"X-Correlation-ID": "corr-123"},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "queued"
        assert body["total_calls"] == 6 and body["stream_version"] == 1
        run_id = body["run_id"]
        assert body["positions"] == [{"stream_id": run_id, "stream_version": 1}]
        read = await harness.read_run_topic(run_id)

    assert read.duplicates == 0  # no crash here: the relay published every event once
    published = read.events

    types = [envelope.type.split(".")[2] for envelope, _ in published]
    assert types == ["created", "started", *["result_recorded"] * 6, "completed"]
    assert [envelope.streamversion for envelope, _ in published] == list(range(1, 10))
    assert {envelope.correlationid for envelope, _ in published} == {"corr-123"}
    assert {envelope.source for envelope, _ in published} == {"/run-orchestrator"}

    created = published[0][1]
    assert created["prompt_version_id"] == str(version.version_id)
    assert created["template"] == {"kind": "text", "text": "Hello {{ name }}"}
    assert created["model"] == {"provider": "mock", "name": "echo", "version": None}
    assert created["parameters"]["temperature"] == 0.2
    assert [a["type"] for a in created["assertions"]] == ["contains", "json_schema"]
    assert created["notes"] == "smoke" and created["batch_id"] == "b-1"
    assert created["metadata"] == {"ticket": "PW-12", "tags": ["ui"], "draft": {"step": 2}}
    assert created["total_calls"] == 6

    results = [data for envelope, data in published if envelope.type.endswith(RESULT[-19:])]
    assert sorted((r["case_index"], r["repetition"]) for r in results) == [
        (c, r) for c in range(3) for r in (1, 2)
    ]
    assert len({r["result_id"] for r in results}) == 6
    names = ["Ann", "Bo", "Cy"]
    assert all(r["output"] == f"Hello {names[r['case_index']]}" for r in results)
    assert all(r["error"] is None and r["usage"]["total_tokens"] == 4 for r in results)
    completed = published[-1][1]
    assert completed == {
        "run_id": run_id,
        "status": "completed",
        "succeeded": 6,
        "failed": 0,
        "cost": {"amount": "0", "currency": "USD"},  # the mock is free unless MOCK_MODELS prices it
    }
    assert await harness.fetchval("SELECT status FROM runs") == "completed"
    assert await harness.fetchval("SELECT count(*) FROM run_results") == 6


async def test_failing_model_completes_the_run_as_failed(harness: Any) -> None:
    version = await harness.publish_version("Hi", variables=[])
    async with harness.client() as client:
        response = await client.post(
            "/runs",
            json={
                "prompt_version_id": str(version.version_id),
                "model_name": "fail",
                "repetitions": 3,
            },
        )
        assert response.status_code == 201, response.text
        stored = await harness.wait_finished(response.json()["run_id"])
    results = [data for _, kind, data in stored if kind == RESULT]
    assert len(results) == 3
    assert all(r["output"] is None and "always fails" in r["error"] for r in results)
    assert stored[-1][2]["status"] == "failed" and stored[-1][2]["failed"] == 3


async def test_chat_template_and_other_mock_models(harness: Any) -> None:
    version = await harness.publish_version(
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Name a {{ thing }}"},
        ],
        variables=[VariableSpec(name="thing", default="color")],
    )
    async with harness.client() as client:
        echo = await client.post(
            "/runs", json={"prompt_version_id": str(version.version_id), "cases": []}
        )
        other = await client.post(
            "/runs",
            json={
                "prompt_version_id": str(version.version_id),
                "model_name": "any-model",
                "cases": [{"thing": "fruit"}],
            },
        )
        assert echo.status_code == other.status_code == 201
        echoed = await harness.wait_finished(echo.json()["run_id"])
        answered = await harness.wait_finished(other.json()["run_id"])
    assert echoed[0][2]["cases"] == [{"thing": "color"}]  # the default is snapshotted
    assert echoed[2][2]["output"] == "You are terse.\nName a color"
    assert answered[2][2]["output"].startswith("mock answer ")


async def test_bad_requests_are_422_naming_field_and_rule(harness: Any) -> None:
    version = await harness.publish_version("Hello {{ name.upper() }}")
    good: dict[str, Any] = {"prompt_version_id": str(version.version_id), "cases": [{"name": "A"}]}
    checks: list[tuple[dict[str, Any], str, str]] = [
        ({"repetitions": 0}, "repetitions", "greater_than_equal"),
        ({"repetitions": 51}, "repetitions", "less_than_equal"),
        ({"repetitions": True}, "repetitions", "int_type"),  # a boolean is not a number
        ({"repetitions": "2"}, "repetitions", "int_type"),
        ({"temperature": False}, "temperature", "float_type"),
        ({"temperature": -1}, "temperature", "greater_than_equal"),
        ({"extra": True}, "extra", "extra_forbidden"),
        ({"provider": "nowhere"}, "provider", "unknown_provider"),
        ({"cases": [{"name": "A"}, {"nom": "B"}]}, "cases.1.name", "missing"),
        ({"cases": [{"name": "{{"}, {"name": 3}]}, "cases.1.name", "type"),
        # PostgreSQL's jsonb cannot hold NUL: refused at the edge, not a 5xx at the insert.
        ({"notes": "a\u0000b"}, "notes", "nul_character"),
        ({"metadata": {"big": "x" * 16_000}}, "metadata", "value_error"),
        ({"metadata": ["not", "an", "object"]}, "metadata", "dict_type"),
        ({"cases": [{"name": "A"}, {"name": "B\u0000"}]}, "cases.1.name", "nul_character"),
    ]
    async with harness.client() as client:
        # The first request also waits for the consumer to copy the version.
        assert (await client.post("/runs", json=good)).status_code == 201
        for changes, field, rule in checks:
            response = await client.post("/runs", json={**good, **changes})
            assert response.status_code == 422, (changes, response.text)
            detail = response.json()["errors"][0]
            assert (detail["field"], detail["type"]) == (field, rule), (changes, detail)
        missing = await client.post("/runs", json={"cases": []})
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["field"] == "prompt_version_id"
        unknown = await client.post("/runs", json={**good, "provider": "nowhere"})
        assert "mock" in unknown.json()["errors"][0]["msg"]
    # Nothing half-written: only the one good run exists.
    assert await harness.fetchval("SELECT count(*) FROM runs") == 1
    assert await harness.fetchval("SELECT count(DISTINCT stream_id) FROM events") == 1


async def test_unknown_prompt_version_is_422_after_a_bounded_wait(harness: Any) -> None:
    async with harness.client(prompt_wait_seconds=0.5) as client:
        started = time.monotonic()
        response = await client.post("/runs", json={"prompt_version_id": str(uuid.uuid4())})
        waited = time.monotonic() - started
    assert response.status_code == 422
    detail = response.json()["errors"][0]
    assert (detail["field"], detail["type"]) == ("prompt_version_id", "not_found")
    assert 0.5 <= waited < 5


async def test_providers_lists_names_kinds_and_prices_only(harness: Any) -> None:
    price = {"input_per_million": "1.5", "output_per_million": "2", "currency": "USD"}
    providers = {
        "local": {
            "base_url": "http://127.0.0.1:9/v1",
            "api_key": "sk-hidden-42",
            "models": {"small": {"pricing": price}},
        }
    }
    async with harness.client(providers=providers) as client:
        response = await client.get("/providers")
    assert response.status_code == 200
    listed = [(p["name"], p["kind"], p["source"], p["base_url"]) for p in response.json()]
    assert listed == [("mock", "mock", "builtin", None), ("local", "openai", "config", None)]
    assert "sk-hidden" not in response.text and "127.0.0.1" not in response.text
    # A client (the web console) estimates a run's cost from the listed prices.
    pricing = response.json()[1]["models"]["small"]["pricing"]
    assert (pricing["input_per_million"], pricing["output_per_million"]) == ("1.5", "2")


async def test_cancel_stops_a_running_run_and_costs_are_exact(harness: Any) -> None:
    """On real PostgreSQL and Kafka: a priced mock, a run cancelled mid-way through HTTP; what
    finished is kept and costed, and RunCancelled closes the stream."""
    version = await harness.publish_version("Hello {{ name }}")
    price = {"input_per_million": "2.50", "output_per_million": "10.00", "currency": "EUR"}
    slow = {"mock_latency_ms": 100.0, "mock_max_concurrency": 2}
    async with harness.client(mock_models={"echo": {"pricing": price}}, **slow) as client:
        created = await client.post(
            "/runs",
            json={
                "prompt_version_id": str(version.version_id),
                "cases_text": "name,expected\nAnn,Hello Ann\n",
                "cases_format": "csv",
                "repetitions": 40,
                "max_tokens": 10,
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        run_id = body["run_id"]
        assert body["pricing"] == price
        # 9 characters ("Hello Ann") = 3 tokens in, 10 out, x 40: 120 x 2.5/1M + 400 x 10/1M.
        assert body["estimated_cost"] == {"amount": "0.0043", "currency": "EUR"}
        deadline = time.monotonic() + 10
        while await harness.fetchval("SELECT recorded FROM runs") < 4:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        cancel = await client.post(f"/runs/{run_id}/cancel", headers={"X-Actor": "张伟".encode()})
        assert cancel.status_code == 202 and cancel.json()["status"] == "cancelling"
        stored = await harness.wait_finished(run_id)
        again = await client.post(f"/runs/{run_id}/cancel")
        assert again.status_code == 409
        missing = await client.post(f"/runs/{uuid.uuid4()}/cancel")
        assert missing.status_code == 404
    kinds = [kind for _, kind, _ in stored]
    assert kinds[-1] == "promptworks.run.cancelled.v1"
    results = [data for _, kind, data in stored if kind == RESULT]
    assert 4 <= len(results) < 40
    # "Hello Ann" is 2 words in and out on the mock: 2 x 2.5/1M + 2 x 10/1M = 0.000025.
    assert {r["cost"]["amount"] for r in results} == {"0.000025"}
    cancelled = stored[-1][2]
    assert cancelled["cause"] == "requested" and cancelled["cancelled_by"] == "张伟"
    assert cancelled["succeeded"] == len(results)
    total = Decimal(cancelled["cost"]["amount"])
    assert total == Decimal("0.000025") * len(results) and cancelled["cost"]["currency"] == "EUR"
    created_event = stored[0][2]
    assert created_event["expected"] == ["Hello Ann"]
    assert await harness.fetchval("SELECT status FROM runs") == "cancelled"


async def test_a_case_of_the_wrong_type_is_a_422_naming_case_and_variable(harness: Any) -> None:
    version = await harness.publish_version(
        "{{ n }} x {{ flag }}",
        variables=[
            VariableSpec(name="n", type="number"),
            VariableSpec(name="flag", type="boolean"),
        ],
    )
    async with harness.client() as client:
        for body, field in (
            ({"cases": [{"n": 1, "flag": True}, {"n": "five", "flag": False}]}, "cases.1.n"),
            ({"cases_text": "n,flag\n1,true\n2,maybe\n", "cases_format": "csv"}, "cases.1.flag"),
        ):
            response = await client.post(
                "/runs", json={"prompt_version_id": str(version.version_id), **body}
            )
            assert response.status_code == 422, response.text
            detail = response.json()["errors"][0]
            assert (detail["field"], detail["type"]) == (field, "type")
        assert await harness.fetchval("SELECT count(*) FROM runs") == 0


async def test_runs_and_batches_pin_the_evaluator_version_they_name(
    harness: Any, database: Any, tmp_path: Path
) -> None:
    """The version is asked of the real evaluator (a process) and pinned in RunCreated."""
    version = await harness.publish_version("Hello {{ name }}")
    evaluator_db = await database("evaluator")
    async with service_process("evaluator", evaluator_db, harness.kafka, tmp_path) as url:
        async with httpx.AsyncClient(base_url=url, headers=service_headers()) as evaluator:
            created = await evaluator.post(
                "/evaluators",
                json={"name": "polite", "assertions": [{"type": "contains", "value": "Hello"}]},
            )
            assert created.status_code == 201, created.text
            evaluator_id = created.json()["evaluator_id"]
            second = await evaluator.post(
                f"/evaluators/{evaluator_id}/versions",
                json={"assertions": [{"type": "icontains", "value": "hello", "name": "hi"}]},
            )
            assert second.status_code == 201, second.text
        async with harness.client(evaluator_url=url) as client:
            batch = await client.post(
                "/batches",
                json={
                    "versions": [{"prompt_version_id": str(version.version_id)}],
                    "models": [{"provider": "mock", "model_name": "echo"}] * 2,
                    "cases": [{"name": "Ann"}],
                    "evaluator": {"evaluator_id": evaluator_id},  # latest: version 2
                },
            )
            assert batch.status_code == 201, batch.text
            first = await client.post(
                "/runs",
                json={
                    "prompt_version_id": str(version.version_id),
                    "cases": [{"name": "Ann"}],
                    "evaluator": {"evaluator_id": evaluator_id, "version": 1},
                },
            )
            assert first.status_code == 201, first.text
            both = await client.post(
                "/runs",
                json={
                    "prompt_version_id": str(version.version_id),
                    "cases": [{"name": "Ann"}],
                    "evaluator": {"evaluator_id": evaluator_id},
                    "assertions": [{"type": "contains", "value": "x"}],
                },
            )
            assert both.status_code == 422 and both.json()["errors"][0]["field"] == "evaluator"
            missing = await client.post(
                "/runs",
                json={
                    "prompt_version_id": str(version.version_id),
                    "cases": [{"name": "Ann"}],
                    "evaluator": {"evaluator_id": evaluator_id, "version": 9},
                },
            )
            assert missing.status_code == 404
            assert missing.json()["errors"][0]["field"] == "evaluator.version"
    for run in batch.json()["runs"]:
        [(_, _, snapshot)] = (await harness.stored_events(str(run["run_id"])))[:1]
        assert snapshot["evaluator"] == {"evaluator_id": evaluator_id, "version": 2}
        assert [a["name"] for a in snapshot["assertions"]] == ["hi"]
    [(_, _, pinned)] = (await harness.stored_events(first.json()["run_id"]))[:1]
    assert pinned["evaluator"] == {"evaluator_id": evaluator_id, "version": 1}
    assert [a["type"] for a in pinned["assertions"]] == ["contains"]
    # The evaluator gone: no run is created, and the client is told to try again.
    async with harness.client(evaluator_url=f"http://127.0.0.1:{free_port()}") as client:
        down = await client.post(
            "/runs",
            json={
                "prompt_version_id": str(version.version_id),
                "cases": [{"name": "Ann"}],
                "evaluator": {"evaluator_id": evaluator_id},
            },
        )
        assert down.status_code == 503
