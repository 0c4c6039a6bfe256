"""Files the CLI reads: prompts (YAML, or Markdown whose front matter holds the fields and
whose body is the template) and run or batch specs (YAML: the API's body, plus ``prompt`` by
name, ``cases_file`` and a ``gate``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROMPT_FIELDS = {
    "name", "description", "author", "class_name", "tags", "version", "content", "messages",
    "variables", "model", "parameters", "commit_message",
}  # fmt: skip
VERSION_FIELDS = {"version", "content", "messages", "variables", "model", "parameters"}


class SpecError(ValueError):
    """A file the CLI cannot use; the message names the file and the field."""


@dataclass(frozen=True)
class PromptFile:
    path: Path
    body: dict[str, Any]
    """The fields of ``POST /prompts``."""
    label: str | None
    """A label to point at the pushed version (``production``, ...)."""


@dataclass(frozen=True)
class Gate:
    """What a CI job requires of a run: it completed and was evaluated, and optionally a
    minimum pass rate and no regression from a baseline run beyond ``max_regression``."""

    min_pass_rate: float | None = None
    baseline: str | None = None
    max_regression: float = 0.0
    max_failed_calls: int | None = None


@dataclass(frozen=True)
class RunSpec:
    body: dict[str, Any]
    batch: bool
    gate: Gate = field(default_factory=Gate)


def load_prompt(path: Path) -> PromptFile:
    text = path.read_text()
    if path.suffix.lower() in (".md", ".markdown"):
        meta, body = _front_matter(path, text)
        if "content" in meta or "messages" in meta:
            raise SpecError(
                f"{path}: the Markdown body is the template; no content in front matter"
            )
        meta["content"] = body.strip("\n")
    else:
        meta = _mapping(path, yaml.safe_load(text))
    if "class" in meta:
        meta["class_name"] = meta.pop("class")
    label = meta.pop("label", None)
    unknown = set(meta) - PROMPT_FIELDS
    if unknown:
        raise SpecError(f"{path}: unknown field(s) {', '.join(sorted(unknown))}")
    if not meta.get("name"):
        raise SpecError(f"{path}: name is required")
    return PromptFile(path=path, body=meta, label=None if label is None else str(label))


def load_run(path: Path) -> RunSpec:
    data = _mapping(path, yaml.safe_load(path.read_text()))
    gate = Gate(**_mapping(path, data.pop("gate", None) or {}))
    cases_file = data.pop("cases_file", None)
    if cases_file is not None:
        file = (path.parent / str(cases_file)).resolve()
        kind = file.suffix.lower().lstrip(".")
        if kind not in ("csv", "jsonl"):
            raise SpecError(f"{path}: cases_file must end in .csv or .jsonl")
        data["cases_text"], data["cases_format"] = file.read_text(), kind
    return RunSpec(body=data, batch="versions" in data, gate=gate)


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def version_fields(prompt: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in prompt.items() if key in VERSION_FIELDS}


def _front_matter(path: Path, text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        raise SpecError(f"{path}: expected YAML front matter between --- lines")
    _, meta, body = text.split("---", 2) if text.count("---") >= 2 else ("", "", "")
    if not meta:
        raise SpecError(f"{path}: the front matter is not closed by ---")
    return _mapping(path, yaml.safe_load(meta)), body


def _mapping(path: Path, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"{path}: expected a mapping")
    return dict(value)
