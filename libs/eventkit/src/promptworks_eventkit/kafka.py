"""Kafka clients configured the way every PromptWorks service needs them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from promptworks_eventkit.settings import KafkaSettings

EVENT_TOPIC_CONFIG = {
    # Event topics are the system of record for every read model: keep them forever.
    "retention.ms": "-1",
    "retention.bytes": "-1",
    "cleanup.policy": "delete",
}


def create_producer(kafka: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    """An idempotent producer (implies acks=all): broker-side retries never duplicate."""
    return AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers,
        client_id=kafka.client_id or client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=1024 * 1024,
        max_request_size=kafka.max_message_bytes,
        request_timeout_ms=30_000,
    )


async def stop_quietly(stopping: Awaitable[None], seconds: float) -> None:
    """Awaits a dropped client's stop (or close) for at most ``seconds``, its failure ignored:
    one that never stops, say with the broker away, must not hold its owner."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(seconds):
            await stopping


async def ensure_topics(kafka: KafkaSettings, names: Iterable[str]) -> list[str]:
    """Creates the missing topics (with their dead-letter topics); returns those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        config = {**EVENT_TOPIC_CONFIG, "max.message.bytes": str(kafka.max_message_bytes)}
        if kafka.topic_min_insync_replicas is not None:
            config["min.insync.replicas"] = str(kafka.topic_min_insync_replicas)
        wanted = [kafka.topic(name) for name in names]
        missing = [name for name in wanted if name not in existing]
        if missing:
            # Another process may create one between list and create: that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            name,
                            num_partitions=kafka.topic_partitions,
                            replication_factor=kafka.replication_factor(),
                            topic_configs=config,
                        )
                        for name in missing
                    ]
                )
        return missing
    finally:
        await admin.close()
