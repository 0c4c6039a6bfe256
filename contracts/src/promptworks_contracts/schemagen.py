"""Generates the committed JSON Schemas and AsyncAPI document from the event models.

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


def event_schema(event_type: str) -> dict[str, Any]:
    schema = EVENT_MODELS[event_type].model_json_schema(mode="serialization", by_alias=True)
    schema["$id"] = f"https://promptworks.dev/schemas/{event_type}.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
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
            "headers": Envelope.model_json_schema(mode="serialization"),
            "payload": {"$ref": f"./{event_type}.json"},
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
    envelope = Envelope.model_json_schema(mode="serialization")
    files["envelope.json"] = _render(envelope)
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
