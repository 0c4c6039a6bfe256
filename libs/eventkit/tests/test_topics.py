"""The `topics` step creates topics with the partitions, replicas and `min.insync.replicas` the
settings ask for (the production overlay sets 12, 3 and 2; a one-broker test cluster takes 1)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from promptworks_eventkit.kafka import TopicsNotCreated, created_and_refused, ensure_topics
from promptworks_eventkit.settings import KafkaSettings
from tests.support.infra import Infra, delete_topics


def prefixed(infra: Infra, partitions: int, replicas: int, min_insync: int | None) -> KafkaSettings:
    """Settings for topics under a prefix of the test's own."""
    return KafkaSettings(
        bootstrap_servers=infra.kafka_bootstrap_servers,
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        topic_partitions=partitions,
        topic_replication_factor=replicas,
        topic_min_insync_replicas=min_insync,
    )


async def test_topics_get_the_configured_partitions_replicas_and_min_insync(infra: Infra) -> None:
    kafka = prefixed(infra, partitions=2, replicas=1, min_insync=1)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        assert await ensure_topics(kafka, ["promptworks.run"]) == [kafka.topic("promptworks.run")]
        # Idempotent: a second call creates nothing.
        assert await ensure_topics(kafka, ["promptworks.run"]) == []
        name = kafka.topic("promptworks.run")
        [described] = await admin.describe_topics([name])
        assert len(described["partitions"]) == 2
        assert all(len(p["replicas"]) == 1 for p in described["partitions"])
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        configs = {entry[0]: entry[1] for resource in response.resources for entry in resource[4]}
        assert configs["min.insync.replicas"] == "1"
        assert configs["retention.ms"] == "-1"
    finally:
        await admin.close()
        await delete_topics(kafka)


async def test_a_topic_the_broker_refuses_is_an_error_naming_it_and_why(infra: Infra) -> None:
    # More replicas than the one test broker: the broker answers the topic's error in its
    # response (aiokafka raises nothing), and ensure_topics must not report it as created.
    kafka = prefixed(infra, partitions=1, replicas=3, min_insync=None)
    try:
        with pytest.raises(TopicsNotCreated) as raised:
            await ensure_topics(kafka, ["promptworks.run"])
        name = kafka.topic("promptworks.run")
        assert list(raised.value.refused) == [name]
        assert "InvalidReplicationFactor" in raised.value.refused[name]
        assert name in str(raised.value)
    finally:
        await delete_topics(kafka)


def test_a_topic_that_exists_already_is_neither_created_nor_refused() -> None:
    # A broker's metadata can lag its controller: a topic listed as missing may answer
    # TOPIC_ALREADY_EXISTS (36), which is the state ensure_topics wanted.
    created, refused = created_and_refused(
        [("a", 0, None), ("b", 36, "Topic 'b' already exists."), ("c", 38, "")]
    )
    assert created == {"a"}
    assert list(refused) == ["c"]
    assert refused["c"].startswith("InvalidReplicationFactorError (")


def test_replication_factor_defaults_to_three_with_several_brokers() -> None:
    assert KafkaSettings(bootstrap_servers="a:9092").replication_factor() == 1
    assert KafkaSettings(bootstrap_servers="a:9092,b:9092").replication_factor() == 3
    assert (
        KafkaSettings(bootstrap_servers="a:9092", topic_replication_factor=2).replication_factor()
        == 2
    )
