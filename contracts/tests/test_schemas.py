"""The committed JSON Schemas and AsyncAPI document match the models (run `make schemas`)."""

from __future__ import annotations

import json

from promptworks_contracts.events import EVENT_MODELS
from promptworks_contracts.schemagen import DEFAULT_DIR, drift, generate


def test_committed_schemas_match_the_models() -> None:
    assert drift(DEFAULT_DIR) == [], "schemas drifted from the models: run `make schemas`"


def test_every_event_type_has_a_schema_and_an_asyncapi_message() -> None:
    files = generate()
    asyncapi = json.loads(files["asyncapi.json"])
    names = {m["name"] for m in asyncapi["components"]["messages"].values()}
    assert names == set(EVENT_MODELS)
    assert {f"{t}.json" for t in EVENT_MODELS} <= set(files)


def test_drift_is_detected(tmp_path) -> None:
    for name, content in generate().items():
        (tmp_path / name).write_text(content)
    (tmp_path / "promptworks.run.created.v1.json").write_text("{}\n")
    assert drift(tmp_path) == ["promptworks.run.created.v1.json"]
