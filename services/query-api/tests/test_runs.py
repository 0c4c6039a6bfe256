"""Run and result read models through GET /api/v1/test_prompt, built from real events."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import pytest

pytestmark = pytest.mark.integration

RUNS = "/api/v1/test_prompt"


def ids(body: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in body]


async def test_runs_are_listed_newest_first_and_filtered(api, catalog) -> None:
    done, failed, running, early = (
        str(r.run_id) for r in (catalog.done, catalog.failed, catalog.running, catalog.early)
    )
    everything = await api.client.get(RUNS)
    assert everything.status_code == 200
    assert ids(everything.json()) == [early, running, failed, done]
    assert everything.headers["X-Total-Count"] == "4"

    async def listed(**params: Any) -> tuple[list[str], str]:
        response = await api.client.get(RUNS, params=params)
        assert response.status_code == 200, response.text
        return ids(response.json()), response.headers["X-Total-Count"]

    assert await listed(status="completed") == ([early, done], "2")
    assert await listed(status="failed") == ([failed], "1")
    assert await listed(status="running") == ([running], "1")
    assert await listed(status="queued") == ([], "0")
    v2 = catalog.greeting_v2.version_id
    assert await listed(prompt_version_id=v2) == ([early, done], "2")
    assert await listed(prompt_version_id=v2, status="completed", limit=1) == ([early], "2")
    assert await listed(prompt_id=catalog.summarize.prompt_id) == ([running], "1")
    assert await listed(limit=2, offset=1) == ([running, failed], "4")
    assert await listed(offset=10) == ([], "4")


async def test_bad_run_filters_are_422_naming_the_parameter(api, catalog) -> None:
    response = await api.client.get(RUNS, params={"status": "done"})
    assert response.status_code == 422
    detail = response.json()["errors"][0]
    assert detail["field"] == "status"
    for allowed in ("queued", "running", "completed", "failed", "cancelled"):
        assert allowed in detail["msg"]
    for params, field in (
        ({"prompt_version_id": "v2"}, "prompt_version_id"),
        ({"limit": 201}, "limit"),
        ({"offset": -1}, "offset"),
    ):
        bad = await api.client.get(RUNS, params=params)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field


async def test_run_detail_has_counters_parameters_and_evaluation(api, catalog) -> None:
    response = await api.client.get(f"{RUNS}/{catalog.done.run_id}")
    assert response.status_code == 200
    run = response.json()
    assert run["status"] == "completed"
    assert (run["recorded"], run["succeeded"], run["failed"]) == (4, 3, 1)
    assert (run["case_count"], run["repetitions"], run["total_calls"]) == (2, 2, 4)
    assert (run["temperature"], run["top_p"]) == (0.2, 0.9)
    assert (run["provider"], run["model_name"], run["model_version"]) == ("mock", "echo", None)
    assert run["prompt_version_id"] == str(catalog.greeting_v2.version_id)
    assert run["prompt_version_number"] == 2
    assert (run["notes"], run["batch_id"]) == ("smoke", "batch-1")
    assert run["metadata"] == {"ticket": "PW-12", "owner": "ann", "ui": {"pinned": True}}
    assert run["created_at"] <= run["started_at"] <= run["finished_at"]
    summary = run["evaluation_summary"]
    assert summary["evaluated"] == 4
    assert summary["summaries"][0]["name"] == "contains_0"
    assert summary["summaries"][0]["pass_rate"] == 0.75
    # The whole evaluation, not only the per-metric summaries.
    assert (summary["passed"], summary["pass_rate"]) == (3, 0.75)
    assert summary["judge_cost"] == {"amount": "0.0003", "currency": "USD"}

    failed = (await api.client.get(f"{RUNS}/{catalog.failed.run_id}")).json()
    assert failed["status"] == "failed"
    assert failed["failure_reason"] == "provider 'nope' is not configured"
    assert failed["finished_at"] is not None and failed["evaluation_summary"] is None
    assert failed["metadata"] is None

    running = (await api.client.get(f"{RUNS}/{catalog.running.run_id}")).json()
    assert running["status"] == "running" and running["case_count"] == 1
    assert running["finished_at"] is None


async def test_a_summary_applied_before_its_run_still_shows(api, catalog) -> None:
    early = (await api.client.get(f"{RUNS}/{catalog.early.run_id}")).json()
    assert early["status"] == "completed"
    assert early["evaluation_summary"]["evaluated"] == 4


async def test_results_are_ordered_with_their_metrics(api, catalog) -> None:
    response = await api.client.get(f"{RUNS}/{catalog.done.run_id}/results")
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "4"
    body = response.json()
    assert [(r["case_index"], r["repetition"]) for r in body] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    by_id = {str(r.result_id): r for r in catalog.results}
    for item in body:
        recorded = by_id[item["id"]]
        assert item["output"] == recorded.output and item["error"] == recorded.error
        assert item["latency_ms"] == recorded.latency_ms
        assert (item["prompt_tokens"], item["completion_tokens"], item["total_tokens"]) == (5, 3, 8)
        # Every result has all three metrics, including the two whose metrics were applied
        # before the result itself.
        assert [m["name"] for m in item["metrics"]] == ["contains_0", "latency_ms", "output_chars"]
        metrics = {m["name"]: m for m in item["metrics"]}
        assert metrics["latency_ms"]["value"] == recorded.latency_ms
        assert metrics["contains_0"] == {
            "name": "contains_0",
            "value": None,
            "passed": recorded.error is None,
            "detail": "checked",
        }
    assert body[3]["output"] is None and body[3]["error"] == "timeout"
    # Each result's verdict, with its reasons and its judges' scores.
    assert [(r["passed"], r["score"]) for r in body] == [
        (True, 1.0),
        (True, 1.0),
        (True, 1.0),
        (False, 0.0),
    ]
    assert body[3]["reasons"] == [
        {
            "name": "error",
            "type": "error",
            "detail": "timeout",
            "value": None,
            "threshold": None,
            "weight": 1.0,
        }
    ]
    assert body[3]["judgements"] == [] and body[0]["reasons"] == []
    [judgement] = body[0]["judgements"]
    assert (judgement["name"], judgement["score"], judgement["error"]) == ("judge_1", 80.0, None)
    assert judgement["scores"] == [{"dimension": "准确性", "score": 80.0, "reason": "right"}]
    assert judgement["cost"] == {"amount": "0.0001", "currency": "USD"}

    page = await api.client.get(
        f"{RUNS}/{catalog.done.run_id}/results", params={"limit": 1, "offset": 2}
    )
    assert page.headers["X-Total-Count"] == "4"
    assert page.json() == [body[2]]


async def test_a_result_applied_after_its_run_finished_takes_its_place_in_the_pages(
    api, catalog, publisher
) -> None:
    """A finished run's pages are read by position; a late result renumbers the run."""
    done = catalog.done
    late = catalog.results[0].model_copy(update={"result_id": uuid.uuid4(), "repetition": 3})
    await publisher.publish([late])
    await api.applied(done, publisher.version(done))
    url = f"{RUNS}/{done.run_id}/results"
    everything = (await api.client.get(url)).json()
    order = [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2)]
    assert [(r["case_index"], r["repetition"]) for r in everything] == order
    for offset, limit in ((0, 2), (2, 2), (4, 2), (1, 10)):
        page = await api.client.get(url, params={"offset": offset, "limit": limit})
        assert page.headers["X-Total-Count"] == "5"
        assert page.json() == everything[offset : offset + limit]
    # A filtered page skips its offset on the index instead: the same documents.
    failed = await api.client.get(url, params={"passed": "false"})
    assert [r["id"] for r in failed.json()] == [everything[4]["id"]]


async def test_results_of_unknown_run_and_bad_paging(api, catalog) -> None:
    unknown = uuid.uuid4()
    for path in (f"{RUNS}/{unknown}", f"{RUNS}/{unknown}/results"):
        response = await api.client.get(path)
        assert response.status_code == 404
        assert response.json()["errors"][0]["field"] == "run_id"
    path = f"{RUNS}/{catalog.done.run_id}/results"
    for params, field in (({"limit": 10_001}, "limit"), ({"limit": 0}, "limit")):
        bad = await api.client.get(path, params=params)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field
    empty = await api.client.get(f"{RUNS}/{catalog.running.run_id}/results")
    assert empty.json() == [] and empty.headers["X-Total-Count"] == "0"
    # The deepest offset the API allows, on a finished run (read by position, int4): empty.
    deepest = await api.client.get(path, params={"offset": 2**31 - 1, "limit": 10_000})
    assert deepest.status_code == 200 and deepest.json() == []
    assert deepest.headers["X-Total-Count"] == "4"


async def test_the_run_list_built_by_postgresql_is_what_run_out_renders(api, catalog) -> None:
    """The run list's JSON is built by PostgreSQL (queries.run_documents): for varied rows (the
    catalog's, built from events, and rows with every optional field set, unset and at the
    edges of its spelling) it equals RunOut's own rendering of the same rows."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from pydantic import TypeAdapter
    from sqlalchemy import insert, select

    from promptworks_contracts.projects import DEFAULT_PROJECT
    from query_api.projections.counts import add_runs
    from query_api.queries.runs import _run
    from query_api.schemas.runs import RunOut
    from query_api.tables import runs

    base: dict[str, Any] = {
        "project_id": DEFAULT_PROJECT,
        "prompt_id": uuid.uuid4(),
        "prompt_version_id": uuid.uuid4(),
        "prompt_version_number": 3,
        "provider": "openai",
        "model_name": "gpt-x",
        "model_version": None,
        "parameters": {},
        "repetitions": 1,
        "case_count": 2,
        "assertions": [],
        "notes": None,
        "batch_id": None,
        "total_calls": 2,
        "recorded": 0,
        "succeeded": 0,
        "failed": 0,
        "status": "queued",
        "failure_reason": None,
        "created_at": datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC),
        "stream_version": 1,
    }
    varied = [
        {},  # every optional field null, a whole second
        {
            "model_version": "2024-08-06",
            "parameters": {"temperature": 0.7, "top_p": 1, "max_tokens": 5, "stop": ["\n"]},
            "assertions": [{"kind": "contains", "value": 'é"\\', "weight": 0.5}],
            "notes": 'line\nbreak "quoted" \u2603',
            "batch_id": "b-1",
            "status": "completed",
            "recorded": 2,
            "succeeded": 1,
            "failed": 1,
            "created_at": datetime(2020, 1, 2, 3, 4, 5, 120000, tzinfo=UTC),
            "started_at": datetime(2020, 1, 2, 3, 4, 6, 500, tzinfo=UTC),
            "finished_at": datetime(2020, 1, 2, 3, 4, 7, tzinfo=UTC),
            "evaluation_summary": {"evaluated": 2, "pass_rate": 0.5, "tiny": 1e-07, "n": None},
            "label": "production",
            "currency": "USD",
            "cost": Decimal("0.001250000000"),
            "estimated_cost": Decimal("0"),
            "budget": Decimal("100.000000000000"),
            "cancelled_by": None,
            "retry_of": uuid.uuid4(),
            "evaluator_id": uuid.uuid4(),
            "evaluator_version": 4,
            "metadata": {"z": 1, "a": {"nested": [1, 2.5, True, None]}},
        },
        {
            "status": "cancelled",
            "parameters": {"temperature": None},
            "started_at": datetime(2020, 1, 2, 3, 4, 5, 999999, tzinfo=UTC),
            "failure_reason": "budget reached",
            "cancelled_by": "ann",
            "currency": None,
            "cost": Decimal("1.5"),  # no currency: no amount is shown
            "metadata": {},
        },
        {"status": "running", "currency": "EUR", "cost": Decimal("12345678901.000000000001")},
    ]
    async with api.sessions() as session, session.begin():
        for i, fields in enumerate(varied):
            row = {**base, "run_id": uuid.uuid4(), "stream_version": i + 1, **fields}
            await session.execute(insert(runs).values(row))
        # Counted as the projection counts a new run (the list's total).
        await add_runs(session, Counter({(99, DEFAULT_PROJECT): len(varied)}))
    async with api.sessions() as session:
        rows = (await session.execute(select(runs))).all()
    expected = {str(row.run_id): row for row in rows}
    assert len(expected) == len(varied) + 4

    response = await api.client.get(RUNS, params={"limit": 200})
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == str(len(expected))
    listed = response.json()
    rendered = TypeAdapter(list[RunOut]).dump_json([_run(expected[r["id"]]) for r in listed])
    assert listed == json.loads(rendered)
    # The values that pydantic spells one way and JSON could spell another, explicitly.
    by_status = {r["status"]: r for r in listed if r["prompt_id"] == str(base["prompt_id"])}
    done = by_status["completed"]
    assert done["cost"] == {"amount": "0.00125", "currency": "USD"}
    assert done["estimated_cost"] == {"amount": "0", "currency": "USD"}
    assert done["budget"] == {"amount": "100", "currency": "USD"}
    assert done["created_at"] == "2020-01-02T03:04:05.120000Z"
    assert done["started_at"] == "2020-01-02T03:04:06.000500Z"
    assert done["updated_at"] == done["finished_at"] == "2020-01-02T03:04:07Z"
    assert (done["temperature"], done["top_p"]) == (0.7, 1)
    assert by_status["cancelled"]["cost"] is None
    assert by_status["running"]["cost"] == {"amount": "12345678901.000000000001", "currency": "EUR"}
    assert by_status["queued"]["updated_at"] == "2020-01-02T03:04:05Z"


async def test_an_evaluation_applied_again_replaces_the_metrics_and_the_document(
    api, catalog, publisher
) -> None:
    """An evaluation of an applied result is written into its stored document in place
    (ADR 0026's addendum): applied again with other metrics, only the new ones remain, the
    filters follow, and the document is what rendering the rows again gives."""
    from sqlalchemy import select, text

    from promptworks_contracts.events import ResultEvaluated
    from promptworks_contracts.values import MetricValue
    from query_api.projections.result_documents import render, sources
    from query_api.tables import results

    result = catalog.results[0]
    again = ResultEvaluated(
        run_id=result.run_id,
        result_id=result.result_id,
        metrics=[
            MetricValue(name="Zeta", passed=False, detail="new"),
            MetricValue(name="latency_ms", value=0.1 + 0.2),
            MetricValue(name="a_b", value=1e-300, passed=True),
        ],
        passed=False,
        score=0.25,
    )
    await publisher.publish([again])
    await api.applied(again, publisher.version(again))
    url = f"{RUNS}/{catalog.done.run_id}/results"
    [item] = [r for r in (await api.client.get(url)).json() if r["id"] == str(result.result_id)]
    given = {m.name: (m.name, m.value, m.passed) for m in again.metrics}
    async with api.sessions() as session:  # in the database's name order (its collation)
        order = await session.scalar(
            text("SELECT array_agg(n ORDER BY n) FROM unnest(CAST(:names AS text[])) AS n"),
            {"names": list(given)},
        )
    assert [(m["name"], m["value"], m["passed"]) for m in item["metrics"]] == [
        given[name] for name in order
    ]
    assert (item["passed"], item["score"], item["reasons"], item["judgements"]) == (
        False,
        0.25,
        [],
        [],
    )
    assert item["output"] == result.output and item["tokens_used"] == 8
    failing = (await api.client.get(url, params={"failed_check": "Zeta"})).json()
    assert [r["id"] for r in failing] == [str(result.result_id)]
    failed = (await api.client.get(url, params={"passed": "false"})).json()
    assert str(result.result_id) in [r["id"] for r in failed]
    async with api.sessions() as session:
        stored = await session.scalar(
            select(results.c.document).where(results.c.result_id == result.result_id)
        )
        row = (await session.execute(sources(results.c.result_id == result.result_id))).one()
    assert stored == render(row._mapping)["document"]
    assert json.loads(stored) == item
