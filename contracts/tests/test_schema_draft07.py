"""The committed event schemas are JSON Schema draft-07 that real events satisfy: the
conversion from pydantic's 2020-12 (``$defs``, ``discriminator``) keeps tagged unions
(templates, assertions) checkable through ``oneOf`` with ``const`` tags."""

from __future__ import annotations

import json
import uuid
from typing import Any

import jsonschema
import pytest

from promptworks_contracts.events import RunCreated
from promptworks_contracts.schemagen import DEFAULT_DIR, DRAFT_07
from promptworks_contracts.values import (
    ChatMessage,
    ChatTemplate,
    ContainsAssertion,
    ModelParameters,
    ModelRef,
    RegexAssertion,
)


def schema(event_type: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DEFAULT_DIR / f"{event_type}.json").read_text())
    return loaded


def run_created() -> dict[str, Any]:
    event = RunCreated(
        run_id=uuid.uuid4(),
        prompt_id=uuid.uuid4(),
        prompt_version_id=uuid.uuid4(),
        prompt_version_number=2,
        template=ChatTemplate(messages=[ChatMessage(role="user", content="Hi {{ name }}")]),
        model=ModelRef(provider="mock", name="echo"),
        parameters=ModelParameters(temperature=0.2),
        repetitions=2,
        cases=[{"name": "Ann"}],
        assertions=[ContainsAssertion(value="Hi"), RegexAssertion(pattern="^H")],
        total_calls=2,
    )
    data: dict[str, Any] = event.model_dump(mode="json", by_alias=True)
    return data


def test_every_event_schema_is_a_valid_draft07_schema_without_2020_keywords() -> None:
    for path in DEFAULT_DIR.glob("promptworks.*.json"):
        document = json.loads(path.read_text())
        assert document["$schema"] == DRAFT_07, path.name
        jsonschema.Draft7Validator.check_schema(document)
        text = path.read_text()
        assert '"$defs"' not in text and '"discriminator"' not in text, path.name


def test_a_real_event_satisfies_its_schema_and_a_wrong_tag_does_not() -> None:
    validator = jsonschema.Draft7Validator(schema(RunCreated.event_type))
    event = run_created()
    validator.validate(event)
    event["assertions"][0]["type"] = "sounds_like"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(event)
    event = run_created()
    event["template"]["kind"] = "text"  # a chat template's fields under the text tag
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(event)
