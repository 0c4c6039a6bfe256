"""Live progress over server-sent events: a run's (and a batch's) stream follows the read model
from queued to evaluated, resumes after ``Last-Event-ID`` and ends (204 once seen to the end).
The run's results then serve the result filters and the NDJSON export (one setup for both)."""

from __future__ import annotations

import asyncio
import importlib
import json
import uuid
from typing import Any

import httpx

from promptworks_contracts.events import (
    BatchCell,
    BatchCreated,
    DomainEvent,
    ResultEvaluated,
    ResultRecorded,
    RunCompleted,
    RunEvaluated,
    RunStarted,
)
from promptworks_contracts.values import MetricSummary, MetricValue, TokenUsage

run_world = importlib.import_module("services.query-api.tests.run_world")


def parse(body: str) -> list[dict[str, Any]]:
    """The stream's frames: ``{"event", "id", "data"}`` for events, ``{"comment"}`` else."""
    frames: list[dict[str, Any]] = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        frame: dict[str, Any] = {}
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "":
                frame["comment"] = value
            elif field == "data":
                frame["data"] = json.loads(value)
            else:
                frame[field] = value
        frames.append(frame)
    return frames


def world() -> tuple[list[DomainEvent], Any]:
    prompt = run_world._prompt("live", "ann")
    version = run_world._version(prompt, 1)
    run = run_world._run(version, 2, 1)
    return [prompt, version, run], run


def result(run: Any, case: int) -> ResultRecorded:
    return ResultRecorded(
        run_id=run.run_id,
        result_id=uuid.uuid4(),
        case_index=case,
        repetition=1,
        output=f"hi {case}",
        latency_ms=3.0,
        usage=TokenUsage(prompt_tokens=2, completion_tokens=1, total_tokens=3),
    )


def evaluated(run: Any) -> RunEvaluated:
    return RunEvaluated(
        run_id=run.run_id,
        evaluated=2,
        summaries=[MetricSummary(name="contains_0", count=2, pass_rate=1.0)],
        passed=2,
        pass_rate=1.0,
    )


async def test_a_run_streams_its_progress_until_evaluated_and_resumes_after_last_event_id(
    serve: Any, settings: Any, publisher: Any
) -> None:
    fast = settings.model_copy(
        update={"live_poll_interval": 0.05, "live_heartbeat": 0.01, "live_evaluation_wait": 60}
    )
    async with serve(fast) as api:
        created, run = world()
        await publisher.publish(created)
        await api.applied(run, 1)
        url = f"/api/v1/test_prompt/{run.run_id}/events"
        watching = asyncio.create_task(api.client.get(url, timeout=60))
        recorded = [result(run, 0), result(run, 1)]
        for step in (RunStarted(run_id=run.run_id), *recorded):
            await asyncio.sleep(0.3)  # quiet for a while: heartbeats, not progress
            await publisher.publish([step])
            await api.applied(run, publisher.version(run))
        await publisher.publish(
            [RunCompleted(run_id=run.run_id, status="completed", succeeded=2, failed=0)]
        )
        await api.applied(run, publisher.version(run))
        await asyncio.sleep(0.3)  # finished, not yet evaluated: the stream stays open
        assert not watching.done()
        checks = [
            ResultEvaluated(
                run_id=run.run_id,
                result_id=r.result_id,
                metrics=[MetricValue(name="greets", passed=r.case_index == 0)],
            )
            for r in recorded
        ]
        await publisher.publish([*checks, evaluated(run)])
        response = await asyncio.wait_for(watching, 60)

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = parse(response.text)
        assert frames[0] == {"retry": "2000"}
        progress = [f for f in frames if f.get("event") == "progress"]
        ids = [int(f["id"]) for f in progress]
        assert ids == sorted(set(ids)), "event ids only grow"
        runs = [f["data"] for f in progress]
        assert {r["id"] for r in runs} == {str(run.run_id)}
        assert [r["recorded"] for r in runs] == sorted(r["recorded"] for r in runs)
        assert {"queued", "running", "completed"} <= {r["status"] for r in runs}
        summary = runs[-1]["evaluation_summary"]
        assert runs[-1]["recorded"] == 2 and (summary["evaluated"], summary["pass_rate"]) == (2, 1)
        assert runs[-2]["status"] == "completed" and runs[-2]["evaluation_summary"] is None
        assert any("comment" in f for f in frames), "quiet stretches send heartbeats"
        assert frames[-1]["event"] == "end" and frames[-1]["id"] == progress[-1]["id"]
        assert frames[-1]["data"] == {"status": "completed", "evaluated": True}

        # Resume from an earlier event: only the newest snapshot, then the end.
        resumed = await api.client.get(url, headers={"Last-Event-ID": progress[0]["id"]})
        events = [f for f in parse(resumed.text) if "event" in f]
        assert [f["event"] for f in events] == ["progress", "end"]
        assert events[0]["data"] == runs[-1]
        # EventSource cannot set headers on its first request: the query works too.
        query = await api.client.get(url, params={"last_event_id": progress[-2]["id"]})
        assert [f["event"] for f in parse(query.text) if "event" in f] == ["progress", "end"]
        # Seen to the end: 204 tells EventSource to stop reconnecting.
        done = await api.client.get(url, headers={"Last-Event-ID": progress[-1]["id"]})
        assert done.status_code == 204 and done.content == b""

        # Unknown runs and batches, and a Last-Event-ID that is no event id.
        for path in (
            f"/api/v1/test_prompt/{uuid.uuid4()}/events",
            f"/api/v1/batches/{uuid.uuid4()}/events",
        ):
            missing: httpx.Response = await api.client.get(path)
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
        bad = await api.client.get(url, headers={"Last-Event-ID": "x"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][0] == "header"

        # The same run's results: the NDJSON export is the paged list, line by line; filters.
        results_url = f"/api/v1/test_prompt/{run.run_id}/results"
        listed = (await api.client.get(results_url)).json()
        export = await api.client.get(f"{results_url}/export")
        assert export.headers["content-type"] == "application/x-ndjson"
        assert [json.loads(line) for line in export.text.splitlines()] == listed
        assert [r["metrics"][0]["passed"] for r in listed] == [True, False]
        for query, cases in [
            ({"passed": "false"}, [1]),
            ({"passed": "true"}, [0]),
            ({"failed_check": "greets"}, [1]),
            ({"failed_check": "other"}, []),
            ({"q": "HI 1"}, [1]),
            ({"q": "%"}, []),
            ({"case_index": 0}, [0]),
        ]:
            page = await api.client.get(results_url, params=query)
            assert [r["case_index"] for r in page.json()] == cases, query
            assert page.headers["X-Total-Count"] == str(len(cases))
            lines = (await api.client.get(f"{results_url}/export", params=query)).text
            assert [json.loads(line)["case_index"] for line in lines.splitlines()] == cases
        gone = await api.client.get(f"/api/v1/test_prompt/{uuid.uuid4()}/results/export")
        assert gone.status_code == 404


async def test_a_batch_streams_the_progress_of_its_runs_and_streams_end_unevaluated_when_told(
    serve: Any, settings: Any, publisher: Any
) -> None:
    """With ``live_evaluation_wait`` 0 a stream ends as soon as its run (batch) finished."""
    fast = settings.model_copy(update={"live_poll_interval": 0.05, "live_evaluation_wait": 0})
    async with serve(fast) as api:
        batch_id = uuid.uuid4()
        prompt = run_world._prompt("batch", "ann")
        version = run_world._version(prompt, 1)
        runs = [
            run_world._run(version, 2, 1, batch_id=str(batch_id)),
            run_world._run(version, 2, 1, batch_id=str(batch_id)),
        ]
        cells = [
            BatchCell(
                run_id=r.run_id,
                prompt_version_id=version.version_id,
                prompt_version_number=1,
                model=r.model,
                parameters=r.parameters,
                parameter_set=0,
            )
            for r in runs
        ]
        batch = BatchCreated(batch_id=batch_id, cells=cells, total_calls=4)
        await publisher.publish([prompt, version, batch, *runs])
        await api.applied(batch, 1)
        for r in runs:
            await api.applied(r, 1)
        watching = asyncio.create_task(api.client.get(f"/api/v1/batches/{batch_id}/events"))
        for r in runs:
            await asyncio.sleep(0.2)
            await publisher.publish([RunStarted(run_id=r.run_id), result(r, 0), result(r, 1)])
            await publisher.publish(
                [RunCompleted(run_id=r.run_id, status="completed", succeeded=2, failed=0)]
            )
        response = await asyncio.wait_for(watching, 60)

        frames = parse(response.text)
        progress = [f for f in frames if f.get("event") == "progress"]
        ids = [int(f["id"]) for f in progress]
        assert ids == sorted(set(ids))
        assert progress[0]["data"]["status"] == "queued"
        last = progress[-1]["data"]
        assert (last["id"], last["status"], last["recorded"]) == (str(batch_id), "completed", 4)
        assert [cell["status"] for cell in last["cells"]] == ["completed", "completed"]
        assert frames[-1]["data"] == {"status": "completed", "evaluated": False}

        # Usage over the same results: per model, per prompt, per UTC day.
        usage = (await api.client.get("/api/v1/usage/overview")).json()
        assert (usage["totals"]["calls"], usage["totals"]["total_tokens"]) == (4, 12)
        assert usage["totals"]["uncosted_calls"] == 4 and usage["totals"]["cost"] == []
        [model] = usage["by_model"]
        assert (model["provider"], model["model_name"], model["calls"]) == ("mock", "echo", 4)
        assert [(p["prompt_id"], p["calls"]) for p in usage["by_prompt"]] == [
            (str(prompt.prompt_id), 4)
        ]
        series = await api.client.get(
            "/api/v1/usage/timeseries", params={"model_name": "echo", "start": "2000-01-01T00:00Z"}
        )
        assert [p["calls"] for p in series.json()["points"]] == [4]
        later = await api.client.get(
            "/api/v1/usage/overview", params={"start": "2999-01-01T00:00Z"}
        )
        assert later.json()["totals"]["calls"] == 0 and later.json()["by_model"] == []
        naive = await api.client.get("/api/v1/usage/overview", params={"start": "2026-01-01T00:00"})
        assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "start"

        # A failed run, never evaluated: its stream ends at once.
        created, run = world()
        failed = RunCompleted(run_id=run.run_id, status="failed", succeeded=0, failed=0)
        await publisher.publish([*created, RunStarted(run_id=run.run_id), failed])
        await api.applied(run, 3)
        response = await api.client.get(f"/api/v1/test_prompt/{run.run_id}/events")
        events = [f for f in parse(response.text) if "event" in f]
        assert [f["event"] for f in events] == ["progress", "end"]
        assert events[0]["data"]["status"] == "failed"
        assert events[1]["data"] == {"status": "failed", "evaluated": False}

        # The run list's filters and sorts over these three runs.
        async def listed(**params: Any) -> list[str]:
            page = await api.client.get("/api/v1/test_prompt", params=params)
            assert page.status_code == 200, page.text
            return [r["id"] for r in page.json()]

        newest = await listed()
        assert len(newest) == 3 and newest[0] == str(run.run_id)
        assert await listed(sort="created_at") == newest[::-1]
        assert await listed(provider="mock", model_name="echo") == newest
        assert await listed(model_name="gpt-x") == []
        assert await listed(created_after="2999-01-01T00:00:00Z") == []
        assert await listed(created_before="2999-01-01T00:00:00Z") == newest
        finished = await listed(sort="-finished_at", status="completed")
        assert sorted(finished) == sorted(str(r.run_id) for r in runs)
        naive = await api.client.get("/api/v1/test_prompt", params={"created_after": "2026-01-01"})
        assert naive.status_code == 422
