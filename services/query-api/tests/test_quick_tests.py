"""The quick-test history and its usage: ``promptworks.quick_test.completed.v1`` events projected
into ``quick_tests``, read back newest first with filters and paging, one by id (another
project's answers 404), and counted by the usage endpoints beside the runs' results."""

from __future__ import annotations

import importlib
import uuid
from decimal import Decimal
from typing import Any

from promptworks_contracts.events import QuickTestCompleted
from promptworks_contracts.values import ModelParameters, ModelRef, Money, TokenUsage

run_world = importlib.import_module("services.query-api.tests.run_world")
live = importlib.import_module("services.query-api.tests.test_live")

API = "/api/v1"


def quick_test(version: Any, **fields: Any) -> QuickTestCompleted:
    fields.setdefault("model", ModelRef(provider="openai", name="gpt-4o-mini"))
    fields.setdefault("usage", TokenUsage(prompt_tokens=10, completion_tokens=5, total_tokens=15))
    return QuickTestCompleted(
        quick_test_id=uuid.uuid4(),
        prompt_id=version.prompt_id,
        prompt_version_id=version.version_id,
        prompt_version_number=version.number,
        parameters=ModelParameters(temperature=0.1, seed=7),
        variables={"name": "Ada"},
        latency_ms=12.5,
        actor="ann",
        **fields,
    )


async def test_quick_tests_are_listed_newest_first_filtered_paged_and_read_by_id(
    api: Any, publisher: Any
) -> None:
    prompt = run_world._prompt("tried", "ann")
    version = run_world._version(prompt, 1)
    priced = quick_test(
        version,
        output="Hello Ada",
        cost=Money(amount=Decimal("0.0000125"), currency="USD"),
        finish_reason="stop",
        label="latest",
    )
    failed = quick_test(
        version, model=ModelRef(provider="mock", name="echo"), error="provider answered 500"
    )
    streamed = quick_test(version, output="Hi", streamed=True)
    elsewhere = quick_test(version, output="not yours", project_id="elsewhere")
    await publisher.publish([prompt, version, priced, failed, streamed, elsewhere])
    for event in (priced, failed, streamed, elsewhere):
        await api.applied(event, 1)

    listed = await api.client.get(f"{API}/quick-tests")
    assert listed.status_code == 200
    assert listed.headers["x-total-count"] == "3"
    body = listed.json()
    assert [item["id"] for item in body] == [
        str(streamed.quick_test_id),
        str(failed.quick_test_id),
        str(priced.quick_test_id),
    ]
    assert body[2] == {
        "id": str(priced.quick_test_id),
        "prompt_id": str(prompt.prompt_id),
        "prompt_version_id": str(version.version_id),
        "prompt_version_number": 1,
        "label": "latest",
        "provider": "openai",
        "model_name": "gpt-4o-mini",
        "parameters": {
            "temperature": 0.1, "top_p": 1.0, "max_tokens": None, "seed": 7, "stop": None,
        },
        "variables": {"name": "Ada"},
        "output": "Hello Ada",
        "error": None,
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        "cost": {"amount": "0.0000125", "currency": "USD"},
        "latency_ms": 12.5,
        "finish_reason": "stop",
        "streamed": False,
        "actor": "ann",
        "created_at": body[2]["created_at"],
    }  # fmt: skip
    assert body[1]["output"] is None and body[1]["error"] == "provider answered 500"
    assert body[1]["cost"] is None and body[0]["streamed"] is True

    async def ids(**params: Any) -> list[str]:
        response = await api.client.get(f"{API}/quick-tests", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()]

    assert await ids(failed="true") == [str(failed.quick_test_id)]
    assert await ids(failed="false", provider="openai") == [
        str(streamed.quick_test_id),
        str(priced.quick_test_id),
    ]
    assert await ids(model_name="echo") == [str(failed.quick_test_id)]
    assert await ids(prompt_id=str(uuid.uuid4())) == []

    # Cursor paging: two pages of 2 and 1, the second from the first's X-Next-Cursor.
    first = await api.client.get(f"{API}/quick-tests", params={"limit": 2})
    cursor = first.headers["x-next-cursor"]
    second = await api.client.get(f"{API}/quick-tests", params={"limit": 2, "cursor": cursor})
    assert [i["id"] for i in first.json() + second.json()] == [i["id"] for i in body]
    assert "x-next-cursor" not in second.headers
    other_filters = await api.client.get(
        f"{API}/quick-tests", params={"cursor": cursor, "failed": "true"}
    )
    assert other_filters.status_code == 422
    assert other_filters.json()["errors"][0]["field"] == "cursor"

    one = await api.client.get(f"{API}/quick-tests/{priced.quick_test_id}")
    assert one.status_code == 200 and one.json() == body[2]
    for missing in (elsewhere.quick_test_id, uuid.uuid4()):
        response = await api.client.get(f"{API}/quick-tests/{missing}")
        assert response.status_code == 404
        assert response.json()["errors"][0]["field"] == "quick_test_id"
    malformed = await api.client.get(f"{API}/quick-tests/not-an-id")
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "quick_test_id"
    too_many = await api.client.get(f"{API}/quick-tests", params={"limit": 201})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "limit"


async def test_usage_counts_quick_tests_beside_the_runs_results(api: Any, publisher: Any) -> None:
    created, run = live.world()
    prompt, version = created[0], created[1]
    results = [live.result(run, 0), live.result(run, 1)]  # mock/echo, 3 tokens each, no price
    priced = quick_test(
        version, output="x", cost=Money(amount=Decimal("0.25"), currency="EUR")
    )  # openai/gpt-4o-mini, 15 tokens
    echo = quick_test(version, model=ModelRef(provider="mock", name="echo"), error="timeout")
    await publisher.publish([*created, *results, priced, echo])
    await api.applied(run, publisher.version(run))
    await api.applied(priced, 1)
    await api.applied(echo, 1)

    usage = (await api.client.get(f"{API}/usage/overview")).json()
    totals = usage["totals"]
    assert (totals["calls"], totals["quick_test_calls"], totals["failed_calls"]) == (4, 2, 1)
    assert totals["total_tokens"] == 3 + 3 + 15 + 15
    assert totals["cost"] == [{"amount": "0.25", "currency": "EUR"}]
    assert totals["uncosted_calls"] == 3
    by_model = {(m["provider"], m["model_name"]): m for m in usage["by_model"]}
    assert (by_model["mock", "echo"]["calls"], by_model["mock", "echo"]["quick_test_calls"]) == (
        3,
        1,
    )
    assert by_model["openai", "gpt-4o-mini"]["cost"] == [{"amount": "0.25", "currency": "EUR"}]
    assert [(p["prompt_id"], p["calls"]) for p in usage["by_prompt"]] == [
        (str(prompt.prompt_id), 4)
    ]

    series = await api.client.get(
        f"{API}/usage/timeseries", params={"provider": "openai", "start": "2000-01-01T00:00Z"}
    )
    [point] = series.json()["points"]
    assert (point["calls"], point["quick_test_calls"], point["total_tokens"]) == (1, 1, 15)
    later = await api.client.get(f"{API}/usage/overview", params={"start": "2999-01-01T00:00Z"})
    assert later.json()["totals"]["calls"] == 0
