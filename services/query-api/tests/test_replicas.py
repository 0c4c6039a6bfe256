"""Several query-api replicas project one topic set together: each run has one writer.

A result's document joins its result (run topic) and its evaluation (evaluation topic), both
keyed by the run. Two replicas that applied them at once, each in a transaction that missed the
other's uncommitted rows, left the document without its evaluation, for good. eventkit's
consumers share partitions by range (``consumer.CO_PARTITIONED``): partition *p* of both topics goes
to one replica. Three replicas on four partitions a topic is a case round robin split; with
aiokafka's default assignor the same test (then four replicas on three partitions) found results
without their evaluation in 3 runs of 3 (ADR 0031).
"""

from __future__ import annotations

import contextlib
import importlib
import uuid
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from promptworks_contracts.events import (
    ResultEvaluated,
    ResultRecorded,
    RunCompleted,
    RunStarted,
)
from promptworks_contracts.topics import ALL_EVENT_TOPICS, EVALUATION_EVENTS, RUN_EVENTS
from promptworks_contracts.values import MetricValue
from promptworks_eventkit.kafka import ensure_topics
from query_api.projections import CONSUMER_NAME
from tests.support.infra import delete_topics

pytestmark = pytest.mark.integration
run_world = importlib.import_module("services.query-api.tests.run_world")

REPLICAS = 3
PARTITIONS = 4
"""Round robin over the three topics' twelve partitions puts run-events *p* and
evaluation-events *p* eight places apart: on different members of three. Range gives every
member a partition of each topic (no idle member: deployments keep replicas at most
``KAFKA_TOPIC_PARTITIONS``)."""
RUNS = 30
RESULTS = 60


def _assignment(api: Any) -> set[TopicPartition]:
    """The partitions the replica's projection consumer holds now."""
    consumer = api.app.state.runtime.consumers[0]._consumer
    return set(consumer.assignment()) if consumer is not None else set()


def _run_events(run_id: uuid.UUID) -> list[Any]:
    version = run_world._version(run_world._prompt("greeting", "ann"), 1)
    created = run_world._run(version, RESULTS, 1).model_copy(update={"run_id": run_id})
    recorded = [
        ResultRecorded(
            run_id=run_id,
            result_id=uuid.uuid4(),
            case_index=i,
            repetition=1,
            output=f"Hi user{i}",
            latency_ms=1.0,
        )
        for i in range(RESULTS)
    ]
    # Each evaluation right behind its result: both topics hold the same runs at once.
    interleaved: list[Any] = []
    for result in recorded:
        interleaved += [
            result,
            ResultEvaluated(
                run_id=run_id,
                result_id=result.result_id,
                metrics=[MetricValue(name="contains_0", passed=True, detail="checked")],
            ),
        ]
    done = RunCompleted(run_id=run_id, status="completed", succeeded=RESULTS, failed=0)
    return [created, RunStarted(run_id=run_id), *interleaved, done]


async def _group(kafka: Any) -> tuple[str, str, int]:
    """The projection's consumer group: its state, protocol (assignor) and member count."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([kafka.topic(CONSUMER_NAME)])
        group = response.to_object()["groups"][0]
        return group["state"], group["protocol"], len(group["members"])
    finally:
        await admin.close()


async def test_replicas_share_partitions_so_that_each_run_has_one_writer(
    settings: Any, serve: Any, publisher: Any, eventually: Any
) -> None:
    kafka = settings.kafka.model_copy(
        update={"topic_prefix": f"r{uuid.uuid4().hex[:8]}.", "topic_partitions": PARTITIONS}
    )
    await ensure_topics(kafka, ALL_EVENT_TOPICS)
    settings = settings.model_copy(update={"kafka": kafka})
    publisher = type(publisher)(kafka)
    try:
        await _replicas_share(settings, serve, publisher, eventually)
    finally:
        await delete_topics(kafka)


async def _replicas_share(settings: Any, serve: Any, publisher: Any, eventually: Any) -> None:
    kafka = settings.kafka
    async with contextlib.AsyncExitStack() as stack:
        apis = [await stack.enter_async_context(serve(settings)) for _ in range(REPLICAS)]

        async def stable() -> dict[TopicPartition, int]:
            group = await _group(kafka)
            assert group == ("Stable", "range", REPLICAS), f"the group is {group}"
            owners: dict[TopicPartition, int] = {}
            for index, api in enumerate(apis):
                for partition in _assignment(api):
                    assert partition not in owners, "a partition assigned twice"
                    owners[partition] = index
            # Each replica applies its share of the new generation's assignment.
            assert len(owners) == len(ALL_EVENT_TOPICS) * PARTITIONS, "not assigned yet"
            assert len(set(owners.values())) == REPLICAS, "not assigned yet"
            return owners

        owners = await eventually(stable, within=60.0)
        for partition in range(PARTITIONS):
            run_owner = owners[TopicPartition(kafka.topic(RUN_EVENTS), partition)]
            evaluation_owner = owners[TopicPartition(kafka.topic(EVALUATION_EVENTS), partition)]
            assert run_owner == evaluation_owner, f"partition {partition} has two writers"

        # Results and their evaluations at once, on both topics, to the replicas together.
        run_ids = [uuid.uuid4() for _ in range(RUNS)]
        events = [event for run_id in run_ids for event in _run_events(run_id)]
        await publisher.publish(events)
        last_of_stream = {(e.topic, e.stream_id()): e for e in events}
        for event in last_of_stream.values():
            await apis[0].applied(event, publisher.version(event))

        for run_id in run_ids:
            answer = await apis[0].client.get(
                f"/api/v1/test_prompt/{run_id}/results", params={"limit": RESULTS}
            )
            assert answer.status_code == 200
            documents = answer.json()
            assert len(documents) == RESULTS
            unevaluated = [d["id"] for d in documents if not d["metrics"]]
            assert unevaluated == [], f"run {run_id}: results without their evaluation"
