"""``promptworks prompts`` and ``promptworks labels``: prompts pushed from files, their
versions, and the labels that point at them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from promptworks_cli import render
from promptworks_cli.client import Client
from promptworks_cli.session import EXIT_USAGE, STATE, Json, connected, emit, err, load, out
from promptworks_cli.specs import is_uuid, load_prompt, version_fields

prompts_app = typer.Typer(help="Prompts and their versions", no_args_is_help=True)
labels_app = typer.Typer(help="Labels (production, staging, ...) on prompt versions")


@prompts_app.command("list")
def prompts_list(
    q: Annotated[str | None, typer.Option(help="Fuzzy search on name, author, class")] = None,
    label: Annotated[str | None, typer.Option(help="Only prompts with this label")] = None,
    as_json: Json = False,
) -> None:
    """List prompts, most recently updated first."""
    with connected() as api:
        prompts = list(api.pages("/prompts", q=q, label=label))
    emit(prompts, as_json, render.prompts_table)


@prompts_app.command("show")
def prompts_show(
    prompt: Annotated[str, typer.Argument(help="Name or id")], as_json: Json = False
) -> None:
    """One prompt with its versions and labels."""
    with connected() as api:
        doc = api.get(f"/prompts/{prompt_id(api, prompt)}")
    emit(doc, as_json, lambda p: render.versions_table(p["versions"], p["labels"]))


@prompts_app.command("push")
def prompts_push(
    files: Annotated[list[Path], typer.Argument(help="YAML, or Markdown with front matter")],
    as_json: Json = False,
) -> None:
    """Create each prompt, or add a version when its template, variables or model changed;
    then point its ``label`` (if the file names one) at that version."""
    loaded = [load(load_prompt, path) for path in files]
    pushed: list[dict[str, Any]] = []
    with connected() as api:
        for file in loaded:
            prompt, action = _push(api, file.body)
            number = prompt["current_version"]["number"]
            if file.label is not None and prompt["labels"].get(file.label) != number:
                prompt = api.put(
                    f"/prompts/{prompt['id']}/labels/{file.label}", {"version_number": number}
                )
                action += f", {file.label} → v{number}"
            err.print(f"{file.path}: {prompt['name']} v{number} ({action})")
            pushed.append(prompt)
    if as_json or STATE.json:
        out.print_json(json.dumps(pushed))


def _push(api: Client, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    existing = find_prompt(api, body["name"])
    if existing is None:
        return api.post("/prompts", body), "created"
    current = existing.get("current_version") or {}
    wanted = _canonical_version(version_fields(body))
    if wanted == _canonical_version(_as_written(current)):
        return existing, "unchanged"
    new = {**version_fields(body), "commit_message": body.get("commit_message", "")}
    api.post(f"/prompts/{existing['id']}/versions", new)
    return api.get(f"/prompts/{existing['id']}"), "new version"


def _as_written(version: dict[str, Any]) -> dict[str, Any]:
    """A projected version in the fields a prompt file writes."""
    template = version.get("template") or {}
    written: dict[str, Any] = {"variables": version.get("variables") or []}
    if template.get("kind") == "chat" or "messages" in template:
        written["messages"] = template.get("messages")
    else:
        written["content"] = template.get("text")
    if version.get("default_model"):
        written["model"] = version["default_model"]
    if version.get("default_parameters"):
        written["parameters"] = version["default_parameters"]
    return written


def _canonical_version(fields: dict[str, Any]) -> str:
    """Compared loosely: defaults the server fills in are dropped on both sides."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if v not in (None, "", [], {})}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    picked: dict[str, Any] = {
        k: fields.get(k) for k in ("content", "messages", "model", "parameters")
    }
    variables = []
    for variable in fields.get("variables") or []:
        spec = {k: v for k, v in variable.items() if VARIABLE_DEFAULTS.get(k, ...) != v}
        variables.append(spec)
    picked["variables"] = variables
    return json.dumps(strip(picked), sort_keys=True)


VARIABLE_DEFAULTS: dict[str, Any] = {"type": "string", "required": True}
"""What the API fills into a variable left at its defaults (compared as absent)."""


@prompts_app.command("versions")
def prompts_versions(
    prompt: Annotated[str, typer.Argument(help="Name or id")], as_json: Json = False
) -> None:
    """Every version of a prompt, newest first, with the labels on each."""
    with connected() as api:
        found = prompt_id(api, prompt)
        labels = api.get(f"/prompts/{found}")["labels"]
        versions = list(api.pages(f"/prompts/{found}/versions"))
    emit(versions, as_json, lambda v: render.versions_table(v, labels))


@labels_app.command("set")
def labels_set(
    prompt: Annotated[str, typer.Argument(help="Name or id")],
    label: Annotated[str, typer.Argument(help="production, staging, ...")],
    version: Annotated[int, typer.Argument(help="The version number")],
    message: Annotated[str, typer.Option(help="Why (kept in the history)")] = "",
    as_json: Json = False,
) -> None:
    """Point a label at a version (moving it back is a rollback of the label)."""
    with connected() as api:
        doc = api.put(
            f"/prompts/{prompt_id(api, prompt)}/labels/{label}",
            {"version_number": version, "message": message},
        )
    err.print(f"{doc['name']}: {label} → v{version}")
    if as_json or STATE.json:
        out.print_json(json.dumps(doc))


@labels_app.command("rm")
def labels_rm(
    prompt: Annotated[str, typer.Argument(help="Name or id")],
    label: Annotated[str, typer.Argument()],
) -> None:
    """Remove a label."""
    with connected() as api:
        api.delete(f"/prompts/{prompt_id(api, prompt)}/labels/{label}")
    err.print(f"removed {label}")


def prompt_id(api: Client, reference: str) -> str:
    if is_uuid(reference):
        return reference
    found = find_prompt(api, reference)
    if found is None:
        err.print(f"[red]no prompt is named {reference!r}[/red]")
        raise typer.Exit(EXIT_USAGE)
    return str(found["id"])


def find_prompt(api: Client, name: str) -> dict[str, Any] | None:
    for prompt in api.pages("/prompts", q=name, archived="all", limit=50):
        if prompt["name"] == name:
            return dict(prompt)
    return None
