"""Generates the committed JSON Schemas and AsyncAPI document from the event models.

The schemas are JSON Schema draft-07, the newest draft AsyncAPI's tooling knows
(``application/schema+json;version=draft-07``, declared as each message's ``schemaFormat``):
pydantic writes 2020-12 with OpenAPI's ``discriminator`` objects, so ``draft07`` rewrites
``$defs`` as ``definitions`` and drops ``discriminator`` (each ``oneOf`` branch already fixes
its tag with ``const``, which is what tells the branches apart).

``python -m promptworks_contracts.schemagen [--check] [DIR]`` writes them (or, with ``--check``,
fails when the committed files differ from what the models generate).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import EVENT_MODELS
from promptworks_contracts.topics import ALL_EVENT_TOPICS

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "schemas"


def _render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


DRAFT_07 = "http://json-schema.org/draft-07/schema#"
SCHEMA_FORMAT = "application/schema+json;version=draft-07"


def draft07(schema: Any) -> Any:
    """A pydantic (2020-12, OpenAPI-flavoured) schema as draft-07; see the module's doc."""
    if isinstance(schema, list):
        return [draft07(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "discriminator" and isinstance(value, dict):
            continue
        if key == "$ref" and isinstance(value, str):
            converted[key] = value.replace("#/$defs/", "#/definitions/")
        elif key in ("properties", "$defs", "definitions", "patternProperties"):
            # Maps of names to schemas: the names are not keywords.
            target = "definitions" if key == "$defs" else key
            converted[target] = {name: draft07(sub) for name, sub in value.items()}
        else:
            converted[key] = draft07(value)
    return converted


def event_schema(event_type: str) -> dict[str, Any]:
    model = EVENT_MODELS[event_type]
    schema: dict[str, Any] = draft07(model.model_json_schema(mode="serialization", by_alias=True))
    schema["$id"] = f"https://promptworks.dev/schemas/{event_type}.json"
    schema["$schema"] = DRAFT_07
    return schema


def envelope_schema() -> dict[str, Any]:
    schema: dict[str, Any] = draft07(Envelope.model_json_schema(mode="serialization"))
    schema["$schema"] = DRAFT_07
    return schema


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type, model in sorted(EVENT_MODELS.items()):
        name = event_type.replace(".", "_")
        messages[name] = {
            "name": event_type,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "",
            "contentType": "application/json",
            "headers": {"schemaFormat": SCHEMA_FORMAT, "schema": {"$ref": "./envelope.json"}},
            "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": {"$ref": f"./{event_type}.json"}},
            "bindings": {"kafka": {"key": {"type": "string", "description": "aggregate id"}}},
        }
        channel = channels.setdefault(model.topic, {"address": model.topic, "messages": {}})
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    assert set(channels) <= set(ALL_EVENT_TOPICS)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "PromptWorks domain events",
            "version": "1.0.0",
            "description": (
                "CloudEvents 1.0 in Kafka binary content mode: the value is the JSON data, "
                "attributes are ce_* headers, the key is the aggregate id."
            ),
        },
        "channels": channels,
        "components": {"messages": messages},
    }


def generate() -> dict[str, str]:
    """File name -> content of every generated document."""
    files = {f"{t}.json": _render(event_schema(t)) for t in EVENT_MODELS}
    files["envelope.json"] = _render(envelope_schema())
    files["asyncapi.json"] = _render(asyncapi_document())
    return files


def drift(directory: Path = DEFAULT_DIR) -> list[str]:
    """Names of the generated files that are missing, stale or unexpected in ``directory``."""
    expected = generate()
    present = {p.name for p in directory.glob("*.json")}
    stale = [
        name
        for name, content in expected.items()
        if not (directory / name).exists() or (directory / name).read_text() != content
    ]
    return sorted(stale + sorted(present - set(expected)))


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    directory = Path(args[0]) if args else DEFAULT_DIR
    if check:
        problems = drift(directory)
        for name in problems:
            print(f"schema drift: {name} (run `make schemas`)", file=sys.stderr)
        return 1 if problems else 0
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.json"):
        old.unlink()
    for name, content in generate().items():
        (directory / name).write_text(content)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
