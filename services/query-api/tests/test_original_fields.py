"""The original product's frontend reads fields the new API renamed: they are served beside the
new ones (``prompt_class``, a version's ``version``, ``content`` and ``updated_at``, a run's
``updated_at``, a result's ``test_run_id`` and ``tokens_used``). Pure: no infrastructure."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from query_api.schemas.prompts import PromptOut
from query_api.schemas.runs import ResultOut, RunOut

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def version(template: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(), "prompt_id": uuid.uuid4(), "number": 2, "label": "v1.2",
        "created_at": NOW, "template": template, "variables": [], "default_model": None,
        "default_parameters": None, "commit_message": "", "author": "",
        "variables_report": {"undeclared": [], "unused": []},
    }  # fmt: skip


def test_prompts_carry_the_original_read_fields() -> None:
    current = version({"kind": "text", "text": "Say hello to {{ name }}"})
    summary = {k: current[k] for k in ("id", "number", "label", "created_at")}
    class_ref = {"id": str(uuid.uuid4()), "name": "support"}
    prompt = PromptOut.model_validate(
        {
            "id": uuid.uuid4(),
            "name": "greeting",
            "description": "",
            "author": "ann",
            "class": class_ref,
            "tags": [],
            "labels": {},
            "current_version": current,
            "versions": [summary],
            "version_count": 1,
            "archived": False,
            "created_at": NOW,
            "updated_at": NOW,
            "stream_version": 3,
        }
    )
    body = json.loads(prompt.model_dump_json())
    assert body["class"] == body["prompt_class"] == class_ref
    cv = body["current_version"]
    assert (cv["version"], cv["content"], cv["label"]) == (
        "v1.2",
        "Say hello to {{ name }}",
        "v1.2",
    )
    assert cv["updated_at"] == cv["created_at"]
    assert body["versions"][0]["version"] == "v1.2"

    chat = version(
        {
            "kind": "chat",
            "messages": [
                {"role": "system", "content": "Be brief"},
                {"role": "user", "content": "Hi {{ name }}"},
            ],
        }
    )
    prompt = prompt.model_copy(
        update={"current_version": type(prompt.current_version).model_validate(chat)}
    )
    content = json.loads(prompt.model_dump_json())["current_version"]["content"]
    assert content == "system: Be brief\n\nuser: Hi {{ name }}"


def test_runs_and_results_carry_the_original_read_fields() -> None:
    run = RunOut.model_validate(
        {
            "id": uuid.uuid4(),
            "prompt_id": uuid.uuid4(),
            "prompt_version_id": uuid.uuid4(),
            "prompt_version_number": 1,
            "provider": "mock",
            "model_name": "echo",
            "model_version": None,
            "temperature": None,
            "top_p": None,
            "parameters": {},
            "repetitions": 1,
            "case_count": 1,
            "total_calls": 1,
            "assertions": [],
            "status": "running",
            "failure_reason": None,
            "recorded": 0,
            "succeeded": 0,
            "failed": 0,
            "notes": None,
            "batch_id": None,
            "created_at": NOW,
            "started_at": NOW + timedelta(seconds=1),
            "finished_at": None,
            "evaluation_summary": None,
            "stream_version": 2,
        }
    )
    assert json.loads(run.model_dump_json())["updated_at"] == "2026-11-28T12:00:01Z"
    result = ResultOut(
        id=uuid.uuid4(), run_id=run.id, case_index=0, repetition=1, output="hi",
        latency_ms=1.0, prompt_tokens=2, completion_tokens=3, total_tokens=5,
        finish_reason="stop", error=None, created_at=NOW, metrics=[],
    )  # fmt: skip
    body = json.loads(result.model_dump_json())
    assert (body["test_run_id"], body["tokens_used"]) == (str(run.id), 5)
