"""Kafka clients configured the way every PromptWorks service needs them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from promptworks_eventkit.settings import KafkaSettings

EVENT_TOPIC_CONFIG = {
    # Event topics are the system of record for every read model: keep them forever.
    "retention.ms": "-1",
    "retention.bytes": "-1",
    "cleanup.policy": "delete",
}
READY_SECONDS = 30.0
"""How long ``ensure_topics`` waits for the topics it created to be led."""


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
    """Creates the missing topics (with their dead-letter topics); returns those created.

    Raises `TopicsNotCreated` naming each topic the broker refused and why (say, more
    replicas than brokers). A topic another process created meanwhile is not an error.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        config = {**EVENT_TOPIC_CONFIG, "max.message.bytes": str(kafka.max_message_bytes)}
        if kafka.topic_min_insync_replicas is not None:
            config["min.insync.replicas"] = str(kafka.topic_min_insync_replicas)
        wanted = [kafka.topic(name) for name in names]
        missing = [name for name in wanted if name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
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
        # The broker answers per topic and aiokafka raises none of it: read each answer.
        # A broker's metadata can lag its controller, so a topic just created elsewhere (or
        # by our own previous call) may be missing from the list and answer "exists".
        created, refused = created_and_refused(response.topic_errors)
        if refused:
            raise TopicsNotCreated(refused)
        # The controller answers before every broker's metadata has the topics: a producer
        # or an admin asking at once would find no partitions. Return when they are led.
        await until_led(admin, sorted(created), kafka.topic_partitions, READY_SECONDS)
        return [name for name in missing if name in created]
    finally:
        await admin.close()


async def until_led(
    admin: AIOKafkaAdminClient, names: list[str], partitions: int, seconds: float
) -> None:
    """Waits until the metadata shows each topic with all its partitions led."""
    waiting = names
    deadline = time.monotonic() + seconds
    while waiting:
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics created but not led after {seconds:.0f} s: {waiting}")
        described = await admin.describe_topics(waiting)
        led = {
            topic["topic"]
            for topic in described
            if topic["error_code"] == 0
            and len(topic["partitions"]) == partitions
            and all(p["error_code"] == 0 and p["leader"] >= 0 for p in topic["partitions"])
        }
        waiting = [name for name in waiting if name not in led]
        if waiting:
            await asyncio.sleep(0.1)


class TopicsNotCreated(RuntimeError):
    """The broker refused to create some topics; ``refused`` maps each to its reason."""

    def __init__(self, refused: dict[str, str]) -> None:
        self.refused = refused
        reasons = "; ".join(f"{topic}: {reason}" for topic, reason in sorted(refused.items()))
        super().__init__(f"the broker refused to create topics: {reasons}")


def created_and_refused(
    topic_errors: Iterable[tuple[Any, ...]],
) -> tuple[set[str], dict[str, str]]:
    """Splits a CreateTopics answer's ``(topic, error_code[, message])`` entries into the
    topics created and those refused (with the error's name and the broker's message)."""
    created: set[str] = set()
    refused: dict[str, str] = {}
    for topic, code, *message in topic_errors:
        error = for_code(code)
        if code == 0:
            created.add(topic)
        elif error is not TopicAlreadyExistsError:
            detail = message[0] if message and message[0] else error.description
            refused[topic] = f"{error.__name__} ({detail})"
    return created, refused
