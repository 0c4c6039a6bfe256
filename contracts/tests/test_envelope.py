"""The envelope is CloudEvents 1.0 in Kafka binary mode: checked against the CloudEvents SDK."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from pydantic import ValidationError

from promptworks_contracts.envelope import Envelope, MalformedEnvelopeError, kafka_headers
from promptworks_contracts.events import (
    EVENT_MODELS,
    PromptCreated,
    RunCreated,
    UnknownEventTypeError,
    decode_event,
)
from promptworks_contracts.values import RECORDED


def envelope() -> Envelope:
    return Envelope(
        id=uuid.uuid4(),
        type=PromptCreated.event_type,
        source="/prompt-service",
        subject=str(uuid.uuid4()),
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        correlationid="req-1",
        causationid="req-1",
        streamversion=3,
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )


def test_headers_round_trip() -> None:
    original = envelope()
    assert Envelope.from_kafka_headers(original.to_kafka_headers()) == original


def test_the_cloudevents_sdk_reads_our_kafka_records() -> None:
    original = envelope()
    data = PromptCreated(prompt_id=uuid.UUID(original.subject), name="n")
    message = KafkaMessage(
        headers=dict(original.to_kafka_headers()),
        key=original.subject.encode(),
        value=data.model_dump_json().encode(),
    )
    event = from_binary_event(message)  # the SDK validates the required CloudEvents attributes
    assert event.get_id() == str(original.id)
    assert event.get_type() == "promptworks.prompt.created.v1"
    assert event.get_specversion() == "1.0"
    assert event.get_subject() == original.subject
    assert event.get_time() == original.time
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("streamversion") == "3"
    assert event.get_extension("correlationid") == "req-1"
    data = event.get_data()
    assert isinstance(data, dict) and data["name"] == "n"


def test_missing_headers_are_named() -> None:
    headers = [(k, v) for k, v in envelope().to_kafka_headers() if k != "ce_streamversion"]
    with pytest.raises(MalformedEnvelopeError, match="ce_streamversion"):
        Envelope.from_kafka_headers(headers)


def test_types_follow_the_naming_rule() -> None:
    for event_type in EVENT_MODELS:
        assert event_type.startswith("promptworks.") and event_type.rsplit(".", 1)[1][0] == "v"


def test_consumers_ignore_fields_added_later_within_a_version() -> None:
    prompt_id = uuid.uuid4()
    newer = f'{{"prompt_id": "{prompt_id}", "name": "n", "added_in_v1_later": 1}}'
    decoded = decode_event(PromptCreated.event_type, newer)
    assert decoded == PromptCreated(prompt_id=prompt_id, name="n")


def test_the_project_travels_as_an_extension_attribute_and_defaults_to_default() -> None:
    """ADR 0017: ``ce_project`` on every envelope; a record from before projects (no header,
    no ``project_id`` in its creation event) is in ``default``."""
    in_b = envelope().model_copy(update={"project": "b"})
    headers = in_b.to_kafka_headers()
    assert ("ce_project", b"b") in headers
    assert Envelope.from_kafka_headers(headers).project == "b"
    legacy = [(k, v) for k, v in headers if k != "ce_project"]
    assert Envelope.from_kafka_headers(legacy).project == "default"
    with pytest.raises(MalformedEnvelopeError, match="ce_project"):
        Envelope.from_kafka_headers([*legacy, ("ce_project", b"Not A Slug")])
    created = PromptCreated(prompt_id=uuid.uuid4(), name="n")
    payload = created.model_dump_json(exclude={"project_id"})
    assert PromptCreated.model_validate_json(payload).project_id == "default"


def _headers_as_before(attributes: dict[str, object]) -> list[tuple[str, bytes]]:
    """``kafka_headers`` before its header names were remembered: what it must still give."""
    headers = [("content-type", b"application/json")]
    for name, value in attributes.items():
        if value is not None and name != "datacontenttype":
            headers.append(("ce_" + name, str(value).encode()))
    return headers


def _decoded_as_before(headers: list[tuple[str, bytes]]) -> Envelope:
    """``from_kafka_headers`` before its fast path: every ``ce_`` header, validated."""
    attributes = {
        name[3:]: raw.decode("utf-8", errors="replace")
        for name, raw in headers
        if name.startswith("ce_")
    }
    return Envelope.model_validate(attributes)


def test_the_fast_header_paths_equal_the_plain_ones_past_the_remembered_names() -> None:
    """The remembered names (bounded, as they come from the wire) change nothing: with more
    distinct names than are kept, unknown, empty and non-UTF-8 headers, and a header twice."""
    for number in range(100):
        original = envelope().model_copy(update={"causationid": None, "streamversion": number + 1})
        attributes = {**original.model_dump(mode="json"), f"x{number}": f"v{number}"}
        headers = kafka_headers(attributes)
        assert headers == _headers_as_before(attributes)
        odd = [
            *headers,
            (f"ce_extra{number}", b"\xff\xfe"),
            (f"other{number}", b"1"),
            ("ce_", b""),
            ("ce_correlationid", "réq-2".encode()),
        ]
        decoded = Envelope.from_kafka_headers(odd)
        assert decoded == _decoded_as_before(odd)
        assert decoded.correlationid == "réq-2" and decoded.streamversion == number + 1
        assert (
            decoded.to_kafka_headers()
            == original.model_copy(update={"correlationid": "réq-2"}).to_kafka_headers()
        )


def test_events_are_decoded_as_recorded_facts_and_invalid_data_is_refused() -> None:
    """``decode_event`` calls the model's validator itself: still with ``RECORDED`` (a regex
    that no longer compiles is read, not refused), still refusing what the model refuses."""
    ids = [str(uuid.uuid4()) for _ in range(3)]
    recorded = (
        f'{{"run_id":"{ids[0]}","prompt_id":"{ids[1]}","prompt_version_id":"{ids[2]}",'
        '"prompt_version_number":1,"template":{"kind":"text","text":"Say {{ topic }}."},'
        '"model":{"provider":"mock","name":"echo"},"parameters":{},"repetitions":1,'
        '"cases":[{"topic":"x"}],"assertions":[{"type":"regex","pattern":"(x"}],'
        '"total_calls":1}'
    )
    decoded = decode_event(RunCreated.event_type, recorded.encode())
    assert decoded == RunCreated.model_validate_json(recorded, context=RECORDED)
    assert isinstance(decoded, RunCreated) and decoded.assertions[0].type == "regex"
    with pytest.raises(ValidationError):
        RunCreated.model_validate_json(recorded)  # a new definition must compile
    with pytest.raises(ValidationError, match="total_calls"):
        decode_event(RunCreated.event_type, recorded.replace('"total_calls":1', '"total_calls":0'))
    with pytest.raises(UnknownEventTypeError):
        decode_event("promptworks.run.unheard_of.v1", recorded)
