"""The prompt catalogue of the list benchmark, produced to Kafka as real CloudEvents.

Deterministic (seeded): classes, tags, and prompts with 1-3 versions, some labels (production,
staging) and some archived, each prompt's events in stream order with contiguous stream
versions, keyed by aggregate id, exactly as prompt-service's relay publishes them.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import (
    DomainEvent,
    PromptArchived,
    PromptClassCreated,
    PromptCreated,
    PromptLabelMoved,
    PromptTagCreated,
    PromptVersionCreated,
)
from promptworks_contracts.values import TextTemplate, VariableSpec
from promptworks_eventkit.settings import KafkaSettings


def _words(text: str) -> list[str]:
    return text.split()


VERBS = _words(
    "summarize classify translate extract rewrite answer draft review triage score explain "
    "generate detect compare recommend plan tag route moderate parse"
)
OBJECTS = _words(
    "support ticket invoice contract email article review complaint order refund resume "
    "meeting notes bug report survey product description lead chat transcript policy claim "
    "feedback"
)
QUALIFIERS = _words(
    "short detailed formal friendly urgent legal medical german french spanish customer "
    "internal weekly daily strict json markdown concise"
)
FIRST = _words("ann bob carol dan eve frank grace heidi ivan judy mallory nina oscar peggy rupert")
LAST = _words("lee stone miller garcia chen kumar novak rossi schmidt tanaka dubois silva kowalski")
CLASS_NAMES = [f"{o} {q}" for o in OBJECTS[:20] for q in ("ops", "lab")]  # 40 classes
TAG_NAMES = [f"{w}-{i}" for i, w in enumerate(QUALIFIERS * 7)][:120]  # 120 tags
COLORS = ("#12AB34", "#0000AA", "#AA0000", "#999999", "#FFAA00")


@dataclass
class Catalogue:
    """What the latency phase needs to know about the loaded prompts."""

    prompts: int = 0
    events: int = 0
    labelled: list[str] = field(default_factory=list)
    """Ids of prompts that have a ``production`` label."""
    class_names: list[str] = field(default_factory=lambda: list(CLASS_NAMES))
    tag_names: list[str] = field(default_factory=lambda: list(TAG_NAMES))


def prompt_events(count: int, rng: random.Random) -> Iterator[DomainEvent]:
    """The catalogue's events: classes, tags, then each prompt's creation, versions, labels
    and (some) archive."""
    classes = [
        PromptClassCreated(class_id=uuid.UUID(int=rng.getrandbits(128)), name=name)
        for name in CLASS_NAMES
    ]
    tags = [
        PromptTagCreated(
            tag_id=uuid.UUID(int=rng.getrandbits(128)), name=name, color=rng.choice(COLORS)
        )
        for name in TAG_NAMES
    ]
    yield from classes
    yield from tags
    for i in range(count):
        prompt_id = uuid.UUID(int=rng.getrandbits(128))
        name = f"{rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(QUALIFIERS)} {i}"
        yield PromptCreated(
            prompt_id=prompt_id,
            name=name,
            author=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            class_id=None if rng.random() < 0.1 else rng.choice(classes).class_id,
            tag_ids=[t.tag_id for t in rng.sample(tags, rng.choice((0, 1, 1, 2, 3)))],
            actor="bench",
        )
        versions = [
            PromptVersionCreated(
                prompt_id=prompt_id,
                version_id=uuid.UUID(int=rng.getrandbits(128)),
                number=n,
                label=f"v1.{n}",
                template=TextTemplate(text=f"{name}: {{{{ input }}}} in {{{{ style }}}} (v{n})"),
                variables=[VariableSpec(name="input"), VariableSpec(name="style", default="")],
                commit_message=f"revision {n}",
                actor="bench",
            )
            for n in range(1, rng.choice((1, 1, 2, 2, 3)) + 1)
        ]
        yield from versions
        for label, share in (("production", 0.3), ("staging", 0.15)):
            if rng.random() < share:
                target = rng.choice(versions)
                yield PromptLabelMoved(
                    prompt_id=prompt_id,
                    label=label,
                    version_id=target.version_id,
                    version_number=target.number,
                )
        if rng.random() < 0.05:
            yield PromptArchived(prompt_id=prompt_id, message="retired")


async def produce_catalogue(kafka: KafkaSettings, count: int, seed: int = 7) -> Catalogue:
    """Produces the catalogue; returns what the latency phase needs."""
    rng = random.Random(seed)
    catalogue = Catalogue(prompts=count)
    versions: dict[str, int] = {}
    clock = datetime.now(UTC) - timedelta(days=30)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers,
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=kafka.max_message_bytes,
    )
    await producer.start()
    try:
        pending = []
        for event in prompt_events(count, rng):
            subject = event.stream_id()
            versions[subject] = versions.get(subject, 0) + 1
            clock += timedelta(milliseconds=5)
            envelope = Envelope(
                id=uuid.UUID(int=rng.getrandbits(128)),
                type=event.event_type,
                source="/bench",
                subject=subject,
                time=clock,
                correlationid="bench",
                streamversion=versions[subject],
            )
            if isinstance(event, PromptLabelMoved) and event.label == "production":
                catalogue.labelled.append(subject)
            pending.append(
                await producer.send(
                    kafka.topic(event.topic),
                    key=subject.encode(),
                    value=event.model_dump_json().encode(),
                    headers=envelope.to_kafka_headers(),
                )
            )
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        catalogue.events = sum(versions.values())
    finally:
        await producer.stop()
    return catalogue
