"""OpenAPI, docs and the operations endpoints; serving with several worker processes."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from typing import Any

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from promptworks_contracts.events import ResultRecorded, RunCompleted, RunCreated, RunStarted
from promptworks_contracts.values import ModelParameters, ModelRef, TextTemplate, TokenUsage
from tests.support.credentials import admin_headers
from tests.support.fake_openai import free_port
from tests.support.service_process import service_process

pytestmark = pytest.mark.integration


async def test_openapi_documents_the_public_api(api) -> None:
    response = await api.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/v1/prompts"]) == {"get", "post"}
    assert set(paths["/api/v1/test_prompt"]) == {"get", "post"}
    assert set(paths["/api/v1/prompts/{prompt_id}"]) == {"get", "put", "patch", "delete"}
    assert set(paths["/api/v1/prompts/{prompt_id}/labels/{label}"]) == {"put", "delete"}
    for action in ("versions", "rollback", "archive", "restore", "render"):
        assert "post" in paths[f"/api/v1/prompts/{{prompt_id}}/{action}"], action
    for read in ("versions/{number}", "diff", "history"):
        assert "get" in paths[f"/api/v1/prompts/{{prompt_id}}/{read}"], read
    for kind, key in (("prompt-classes", "class_id"), ("prompt-tags", "tag_id")):
        assert set(paths[f"/api/v1/{kind}"]) == {"get", "post"}
        assert set(paths[f"/api/v1/{kind}/{{{key}}}"]) == {"get", "patch", "delete"}
    listing = paths["/api/v1/prompts"]["get"]
    assert {"X-Total-Count", "X-Next-Cursor", "Link"} <= set(listing["responses"]["200"]["headers"])
    assert "get" in paths["/api/v1/test_prompt/{run_id}"]
    results = paths["/api/v1/test_prompt/{run_id}/results"]["get"]
    assert "X-Total-Count" in results["responses"]["200"]["headers"]
    statuses = paths["/api/v1/test_prompt"]["get"]["parameters"][0]["schema"]
    assert "queued" in str(statuses) and "completed" in str(statuses)
    docs = await api.client.get("/docs")
    assert docs.status_code == 200 and "/api/v1/openapi.json" in docs.text


async def test_health_readiness_and_metrics(api, eventually) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}

    async def ready() -> None:
        response = await api.client.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json()["checks"]["consumer:query-api.projections"] == "ok"

    await eventually(ready)
    metrics = await api.client.get("/metrics")
    assert "# TYPE promptworks_consumer_events_applied_total counter" in metrics.text
    # Requests are counted by route template, not by raw path.
    assert (
        'promptworks_http_requests_total{method="GET",route="/readyz",status="200"}' in metrics.text
    )


async def test_serve_with_two_workers_projects_each_event_once(
    database, kafka, publisher, tmp_path, eventually
) -> None:
    """``serve --workers 2``: two processes on one port, each with the whole service (its
    consumer in the one group, like a replica); every event is applied once in effect."""
    url = await database("query-api")
    runs = [catalog_run() for _ in range(12)]
    events: list[Any] = []
    for run in runs:
        events += [run, RunStarted(run_id=run.run_id)]
        events += [result_of(run, case) for case in range(3)]
        events.append(RunCompleted(run_id=run.run_id, status="completed", succeeded=3, failed=0))
    # Two processes import and start the whole app at once: slow on a loaded CI machine.
    serving = service_process(
        "query-api", url, kafka, tmp_path, "--workers", "2", ready_within=180.0
    )
    async with serving as base:
        supervisor = psutil.Process(int((tmp_path / "query-api.pid").read_text()))
        # (multiprocessing's resource tracker is a child too)
        workers = [c for c in supervisor.children() if "spawn_main" in " ".join(c.cmdline())]
        assert len(workers) == 2
        await publisher.publish(events)
        async with httpx.AsyncClient(base_url=base, headers=admin_headers()) as client:

            async def all_completed() -> None:
                answer = await client.get("/api/v1/test_prompt", params={"status": "completed"})
                assert answer.headers["X-Total-Count"] == str(len(runs))

            await eventually(all_completed)
            listed = (await client.get("/api/v1/test_prompt", params={"limit": 50})).json()
            assert sorted(r["recorded"] for r in listed) == [3] * len(runs)  # once each
            for _ in range(6):  # any worker answers, with the same read model
                page = await client.get(f"/api/v1/test_prompt/{runs[0].run_id}/results")
                assert page.status_code == 200 and len(page.json()) == 3
            for _ in range(4):  # and its /metrics counts what both workers applied
                exposed = (await client.get("/metrics")).text
                assert _sample_sum(exposed, "promptworks_consumer_events_applied_total") == len(
                    events
                )
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            applied = await connection.scalar(text("SELECT sum(next_offset) FROM consumer_offsets"))
            assert applied == len(events)
    finally:
        await engine.dispose()
    # Partitions moved between the workers as they joined and left the group: the lag of one
    # a worker lost is not removed across processes (prometheus-client would only warn).
    log = (tmp_path / "query-api.log").read_text(errors="replace")
    assert "Removal of labels" not in log and "Traceback" not in log, log[-3000:]


def _sample_sum(exposition: str, name: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name
    )


def catalog_run() -> RunCreated:
    return RunCreated(
        run_id=uuid.uuid4(),
        prompt_id=uuid.uuid4(),
        prompt_version_id=uuid.uuid4(),
        prompt_version_number=1,
        template=TextTemplate(text="Say {{ q }}"),
        model=ModelRef(provider="mock", name="echo"),
        parameters=ModelParameters(),
        repetitions=1,
        cases=[{"q": str(i)} for i in range(3)],
        total_calls=3,
    )


def result_of(run: RunCreated, case: int) -> ResultRecorded:
    return ResultRecorded(
        run_id=run.run_id,
        result_id=uuid.uuid4(),
        case_index=case,
        repetition=1,
        output=f"said {case}",
        latency_ms=1.0,
        usage=TokenUsage(prompt_tokens=1, completion_tokens=1, total_tokens=2),
        finish_reason="stop",
    )


async def _command(
    *args: str, database_url: str, kafka: str, extra: dict[str, str] | None = None
) -> tuple[int, str]:
    """``python -m query_api <args>`` as an operator runs it; its exit status and stderr."""
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        **(extra or {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "query_api",
        *args,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, stderr.decode()


async def test_commands_name_the_unreachable_dependency_in_one_line(infra, kafka) -> None:
    """A missing database, a closed port or an unreachable broker ends in one line naming the
    setting (password hidden) and exit status 2, not a traceback (aiokafka logs its own
    connection attempts before it)."""
    password = "promptworks"
    missing = infra.database_url(f"missing_{uuid.uuid4().hex[:8]}")
    assert f":{password}@" in missing
    closed = f"postgresql+asyncpg://promptworks:{password}@127.0.0.1:{free_port()}/db"
    cases = [
        (("rebuild",), missing, kafka.bootstrap_servers, "does not exist"),
        (("migrate",), closed, kafka.bootstrap_servers, "cannot connect to PostgreSQL"),
        (("topics",), missing, f"127.0.0.1:{free_port()}", "cannot reach Kafka"),
    ]
    outcomes = await asyncio.gather(
        *(_command(*args, database_url=url, kafka=servers) for args, url, servers, _ in cases)
    )
    for (args, _, _, reason), (status, stderr) in zip(cases, outcomes, strict=True):
        assert status == 2, (args, stderr)
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("query-api: ") and reason in last, (args, stderr)
        assert f":{password}@" not in stderr
        assert ":***@" in last or "Kafka" in last
        assert "Traceback" not in stderr


async def test_commands_name_an_invalid_setting_in_one_line(infra, kafka) -> None:
    """An invalid setting (a nested one, ``KAFKA_``, and a service's own) ends in one line per
    variable naming it and the rule, never its value, and exit status 2: no traceback."""
    url = infra.database_url("unused")
    invalid = {"KAFKA_CONSUMER_STALL_SECONDS": "nan", "DB_POOL_SIZE": "secret-looking-x"}
    for args in (("topics",), ("rebuild",)):
        for variable, value in invalid.items():
            status, stderr = await _command(
                *args, database_url=url, kafka=kafka.bootstrap_servers, extra={variable: value}
            )
            assert status == 2, (args, stderr)
            [line] = stderr.strip().splitlines()
            assert line.startswith(f"invalid setting {variable}: "), (args, line)
            assert value not in stderr and "Traceback" not in stderr


async def test_topics_names_each_topic_the_broker_refuses_and_exits_1(infra) -> None:
    """Three replicas asked of the one test broker: the broker refuses every topic, and the
    `topics` step says so, topic by topic with the broker's reason, instead of reporting them
    created (aiokafka returns per-topic errors without raising)."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    status, stderr = await _command(
        "topics",
        database_url=infra.database_url("unused"),
        kafka=infra.kafka_bootstrap_servers,
        extra={"KAFKA_TOPIC_PREFIX": prefix, "KAFKA_TOPIC_REPLICATION_FACTOR": "3"},
    )
    assert status == 1, stderr
    [line] = stderr.strip().splitlines()
    assert line.startswith("query-api: the broker refused to create topics: "), line
    assert f"{prefix}promptworks.run: InvalidReplicationFactorError (" in line
    assert f"{prefix}promptworks.run.dlq: InvalidReplicationFactorError (" in line
    assert "Traceback" not in stderr
