"""Kafka and PostgreSQL in containers (testcontainers' Kafka and PostgreSQL modules), for a
machine with a Docker engine. Started once per test session, removed at its end (and by
testcontainers' reaper if the session dies). Imported only when this back end is chosen."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from testcontainers.community.kafka import KafkaContainer
from testcontainers.community.postgres import PostgresContainer

from tests.support.infra import Infra

POSTGRES_IMAGE = "postgres:15"
"""The major version docker-compose.yml and the local stack run."""
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"
"""testcontainers' Kafka module configures this image family (KRaft, no ZooKeeper)."""


@contextlib.contextmanager
def running_containers() -> Iterator[Infra]:
    postgres = PostgresContainer(
        POSTGRES_IMAGE,
        username="promptworks",
        password="promptworks",
        dbname="promptworks",
        driver="asyncpg",
    )
    kafka = KafkaContainer(KAFKA_IMAGE).with_kraft()
    with postgres, kafka:
        url = postgres.get_connection_url()
        yield Infra(url.rsplit("/", 1)[0], kafka.get_bootstrap_server())
