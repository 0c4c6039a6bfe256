"""How a consumer runner sets a poison record aside: a copy on ``<topic>.dlq`` with the error in
its headers, and a ``dead_letters`` row that operators list and replay (``dead_letters``)."""

from __future__ import annotations

from typing import Any

import structlog
from aiokafka import AIOKafkaProducer

from promptworks_contracts.topics import dlq_topic
from promptworks_eventkit.consumer_records import ConsumedRecord, header
from promptworks_eventkit.dead_letters import encode_headers

log = structlog.get_logger(__name__)

ERROR_LIMIT = 4000
"""Characters of the error kept in a header or a row."""


async def send_to_dlq(
    producer: AIOKafkaProducer, consumer: str, record: ConsumedRecord, error: str
) -> None:
    log.error(
        "poison event sent to dead-letter topic",
        consumer=consumer,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        error=error,
        correlation_id=header(record, "ce_correlationid"),
    )
    headers = [
        *record.headers,
        ("dlq_consumer", consumer.encode()),
        ("dlq_error", error[:ERROR_LIMIT].encode()),
        ("dlq_original_topic", record.topic.encode()),
        ("dlq_original_partition", str(record.partition).encode()),
        ("dlq_original_offset", str(record.offset).encode()),
    ]
    await producer.send_and_wait(
        dlq_topic(record.physical_topic), value=record.value, key=record.key, headers=headers
    )


def dead_letter_row(consumer: str, record: ConsumedRecord, error: str) -> dict[str, Any]:
    """The ``dead_letters`` row of a poison record."""
    return {
        "consumer": consumer,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "event_id": header(record, "ce_id"),
        "event_type": header(record, "ce_type"),
        "error": error[:ERROR_LIMIT],
        "key": record.key,
        "value": record.value,
        "headers": encode_headers(record.headers),
    }
