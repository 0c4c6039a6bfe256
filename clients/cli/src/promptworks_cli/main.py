"""``promptworks``: prompts, labels, runs and batches from a terminal or a CI job.

Exit codes: 0 done (and the gate passed), 1 the gate failed (a run failed, missed its
thresholds or regressed from its baseline), 2 a file or an option is wrong, 3 the API refused
or could not be reached.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from promptworks_cli import config, render
from promptworks_cli.client import ApiError, Client
from promptworks_cli.gate import failures
from promptworks_cli.specs import Gate, SpecError, is_uuid, load_prompt, load_run, version_fields

EXIT_GATE, EXIT_USAGE, EXIT_API = 1, 2, 3

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
prompts_app = typer.Typer(help="Prompts and their versions", no_args_is_help=True)
labels_app = typer.Typer(help="Labels (production, staging, ...) on prompt versions")
runs_app = typer.Typer(help="Test runs: start, watch, results, gate", no_args_is_help=True)
batches_app = typer.Typer(help="Batches: a matrix of runs", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")
app.add_typer(labels_app, name="labels")
app.add_typer(runs_app, name="run")
app.add_typer(batches_app, name="batch")

out = Console(soft_wrap=True)
err = Console(stderr=True)


@dataclass
class State:
    url: str | None = None
    api_key: str | None = None
    api_key_file: Path | None = None
    project: str | None = None
    json: bool = False

    def client(self) -> Client:
        return Client(config.resolve(self.url, self.api_key, self.api_key_file, self.project))


STATE = State()

Json = Annotated[bool, typer.Option("--json", help="Print JSON documents instead of tables")]


@app.callback()
def main(
    url: Annotated[
        str | None, typer.Option(envvar="PROMPTWORKS_URL", help="The API (query-api) base URL")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="PROMPTWORKS_API_KEY", help="Sent as Authorization: Bearer"),
    ] = None,
    api_key_file: Annotated[
        Path | None, typer.Option(envvar="PROMPTWORKS_API_KEY_FILE", help="A file with the key")
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(envvar="PROMPTWORKS_PROJECT", help="The project to act in (X-Project)"),
    ] = None,
    as_json: Json = False,
) -> None:
    STATE.url, STATE.api_key, STATE.api_key_file, STATE.json = url, api_key, api_key_file, as_json
    STATE.project = project


@app.command()
def configure(
    url: Annotated[str | None, typer.Option(help="Save this API URL")] = None,
    api_key: Annotated[str | None, typer.Option(help="Save this API key")] = None,
    api_key_file: Annotated[Path | None, typer.Option(help="Save where the key is kept")] = None,
) -> None:
    """Save the API URL and key (or the key's file) for later commands (file mode 0600)."""
    path = config.save(url, api_key, api_key_file)
    err.print(f"saved {path}")


# --- prompts -------------------------------------------------------------------------------


@prompts_app.command("list")
def prompts_list(
    q: Annotated[str | None, typer.Option(help="Fuzzy search on name, author, class")] = None,
    label: Annotated[str | None, typer.Option(help="Only prompts with this label")] = None,
    as_json: Json = False,
) -> None:
    """List prompts, most recently updated first."""
    with _api() as api:
        prompts = list(api.pages("/prompts", q=q, label=label))
    _emit(prompts, as_json, render.prompts_table)


@prompts_app.command("show")
def prompts_show(
    prompt: Annotated[str, typer.Argument(help="Name or id")], as_json: Json = False
) -> None:
    """One prompt with its versions and labels."""
    with _api() as api:
        doc = api.get(f"/prompts/{_prompt_id(api, prompt)}")
    _emit(doc, as_json, lambda p: render.versions_table(p["versions"], p["labels"]))


@prompts_app.command("push")
def prompts_push(
    files: Annotated[list[Path], typer.Argument(help="YAML, or Markdown with front matter")],
    as_json: Json = False,
) -> None:
    """Create each prompt, or add a version when its template, variables or model changed;
    then point its ``label`` (if the file names one) at that version."""
    loaded = [_load(load_prompt, path) for path in files]
    pushed: list[dict[str, Any]] = []
    with _api() as api:
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
    existing = _find_prompt(api, body["name"])
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
    with _api() as api:
        prompt_id = _prompt_id(api, prompt)
        labels = api.get(f"/prompts/{prompt_id}")["labels"]
        versions = list(api.pages(f"/prompts/{prompt_id}/versions"))
    _emit(versions, as_json, lambda v: render.versions_table(v, labels))


# --- labels --------------------------------------------------------------------------------


@labels_app.command("set")
def labels_set(
    prompt: Annotated[str, typer.Argument(help="Name or id")],
    label: Annotated[str, typer.Argument(help="production, staging, ...")],
    version: Annotated[int, typer.Argument(help="The version number")],
    message: Annotated[str, typer.Option(help="Why (kept in the history)")] = "",
    as_json: Json = False,
) -> None:
    """Point a label at a version (moving it back is a rollback of the label)."""
    with _api() as api:
        doc = api.put(
            f"/prompts/{_prompt_id(api, prompt)}/labels/{label}",
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
    with _api() as api:
        api.delete(f"/prompts/{_prompt_id(api, prompt)}/labels/{label}")
    err.print(f"removed {label}")


# --- runs ----------------------------------------------------------------------------------

MinPassRate = Annotated[
    float | None, typer.Option(min=0, max=1, help="Fail below this pass rate (0..1)")
]
Baseline = Annotated[
    str | None, typer.Option(help="A run id: fail when the pass rate drops below its")
]
MaxRegression = Annotated[
    float | None, typer.Option(min=0, max=1, help="Pass-rate drop tolerated against the baseline")
]
MaxFailed = Annotated[int | None, typer.Option(min=0, help="Fail when more calls failed")]


@runs_app.command("start")
def run_start(
    spec: Annotated[Path, typer.Argument(help="A YAML run (or batch, with `versions`) spec")],
    watch: Annotated[bool, typer.Option(help="Follow its progress, then gate")] = True,
    min_pass_rate: MinPassRate = None,
    baseline: Baseline = None,
    max_regression: MaxRegression = None,
    max_failed_calls: MaxFailed = None,
    as_json: Json = False,
) -> None:
    """Start a run (or a batch) from a spec; by default watch it and apply its gate."""
    loaded = _load(load_run, spec)
    gate = _gate(loaded.gate, min_pass_rate, baseline, max_regression, max_failed_calls)
    with _api() as api:
        body = _resolve_prompts(api, loaded.body)
        if loaded.batch:
            created = api.post("/batches", body)
            batch_id = str(created.get("id") or created.get("batch_id"))
            err.print(f"batch {batch_id} started")
            if watch:
                _finish_batch(api, batch_id, gate, as_json)
            else:
                _emit(created, as_json, render.batch_table)
            return
        created = api.post("/test_prompt", body)
        run_id = str(created.get("id") or created.get("run_id"))
        err.print(f"run {run_id} started ({created.get('total_calls', '?')} calls)")
        if watch:
            _finish_run(api, run_id, gate, as_json)
        else:
            _emit(created, as_json, render.run_table)


@runs_app.command("watch")
def run_watch(
    run_id: Annotated[str, typer.Argument()],
    min_pass_rate: MinPassRate = None,
    baseline: Baseline = None,
    max_regression: MaxRegression = None,
    max_failed_calls: MaxFailed = None,
    as_json: Json = False,
) -> None:
    """Follow a run's progress until it is finished and evaluated, then gate it."""
    gate = _gate(Gate(), min_pass_rate, baseline, max_regression, max_failed_calls)
    with _api() as api:
        _finish_run(api, run_id, gate, as_json)


@runs_app.command("show")
def run_show(run_id: Annotated[str, typer.Argument()], as_json: Json = False) -> None:
    """A run's status, counts, cost and evaluation summary."""
    with _api() as api:
        run = api.get(f"/test_prompt/{run_id}")
    _emit(run, as_json, render.run_table)
    if not (as_json or STATE.json) and run.get("evaluation_summary"):
        out.print(render.metrics_table(run))


@runs_app.command("gate")
def run_gate(
    run_id: Annotated[str, typer.Argument()],
    min_pass_rate: MinPassRate = None,
    baseline: Baseline = None,
    max_regression: MaxRegression = None,
    max_failed_calls: MaxFailed = None,
    as_json: Json = False,
) -> None:
    """Exit 1 when a finished run failed, missed the thresholds or regressed."""
    gate = _gate(Gate(), min_pass_rate, baseline, max_regression, max_failed_calls)
    with _api() as api:
        run = api.get(f"/test_prompt/{run_id}")
        _judge(api, [run], gate, as_json)


@runs_app.command("results")
def run_results(
    run_id: Annotated[str, typer.Argument()],
    format: Annotated[str, typer.Option(help="table, csv or jsonl")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file")] = None,
    failed_only: Annotated[bool, typer.Option(help="Only results that failed a check")] = False,
) -> None:
    """A run's results with their checks: a table, or an export (CSV, JSONL)."""
    if format not in ("table", "csv", "jsonl"):
        _usage(f"--format must be table, csv or jsonl, not {format}")
    passed = False if failed_only else None
    with _api() as api:
        # The NDJSON export streams the whole run in one answer (constant memory both ends).
        results: Iterator[dict[str, Any]] = api.lines(
            f"/test_prompt/{run_id}/results/export", passed=passed
        )
        if format == "table" and output is None and not STATE.json:
            out.print(render.results_table(results))
            return
        lines: Iterator[str]
        if format == "csv":
            lines = iter(render.csv_lines(results))
        else:
            lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in results)
        target = sys.stdout if output is None else output.open("w", newline="")
        try:
            for line in lines:
                target.write(line)
        finally:
            if output is not None:
                target.close()


# --- batches -------------------------------------------------------------------------------


@batches_app.command("start")
def batch_start(
    spec: Annotated[Path, typer.Argument(help="A YAML batch spec (`versions`, `models`, ...)")],
    watch: Annotated[bool, typer.Option(help="Follow its progress, then gate each run")] = True,
    min_pass_rate: MinPassRate = None,
    baseline: Baseline = None,
    max_regression: MaxRegression = None,
    max_failed_calls: MaxFailed = None,
    as_json: Json = False,
) -> None:
    """Start a batch; by default watch it and gate every run of its matrix."""
    run_start(spec, watch, min_pass_rate, baseline, max_regression, max_failed_calls, as_json)


@batches_app.command("watch")
def batch_watch(
    batch_id: Annotated[str, typer.Argument()],
    min_pass_rate: MinPassRate = None,
    as_json: Json = False,
) -> None:
    """Follow a batch until every run is finished and evaluated, then gate each run."""
    with _api() as api:
        _finish_batch(api, batch_id, Gate(min_pass_rate=min_pass_rate), as_json)


@batches_app.command("show")
def batch_show(batch_id: Annotated[str, typer.Argument()], as_json: Json = False) -> None:
    """A batch's matrix: each run's status, progress, pass rate and cost."""
    with _api() as api:
        batch = api.get(f"/batches/{batch_id}")
    _emit(batch, as_json, render.batch_table)


# --- helpers -------------------------------------------------------------------------------


def _finish_run(api: Client, run_id: str, gate: Gate, as_json: bool) -> None:
    _follow(api, f"/test_prompt/{run_id}", f"run {run_id[:8]}")
    run = api.get(f"/test_prompt/{run_id}")
    if not (as_json or STATE.json):
        out.print(render.run_table(run))
        if run.get("evaluation_summary"):
            out.print(render.metrics_table(run))
    _judge(api, [run], gate, as_json)


def _finish_batch(api: Client, batch_id: str, gate: Gate, as_json: bool) -> None:
    _follow(api, f"/batches/{batch_id}", f"batch {batch_id[:8]}")
    batch = api.get(f"/batches/{batch_id}")
    if not (as_json or STATE.json):
        out.print(render.batch_table(batch))
    runs = [api.get(f"/test_prompt/{cell['run_id']}") for cell in batch["cells"]]
    _judge(api, runs, gate, as_json, document=batch)


def _follow(api: Client, path: str, what: str) -> None:
    """A progress bar fed by the live stream, until it ends (finished and evaluated)."""
    _wait_visible(api, path)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[status]}"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task(what, total=None, status="")
        for event in api.events(f"{path}/events"):
            if event.name == "progress":
                doc = event.data
                progress.update(
                    task, total=doc["total_calls"], completed=doc["recorded"], status=doc["status"]
                )


def _wait_visible(api: Client, path: str, within: float = 30.0) -> None:
    """A write answered 202 is recorded but not yet readable: wait until it is."""
    deadline = time.monotonic() + within
    while True:
        try:
            api.get(path)
            return
        except ApiError as error:
            if error.status != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def _judge(
    api: Client,
    runs: list[dict[str, Any]],
    gate: Gate,
    as_json: bool,
    document: dict[str, Any] | None = None,
) -> None:
    baseline = api.get(f"/test_prompt/{gate.baseline}") if gate.baseline else None
    verdicts = {run["id"]: failures(run, gate, baseline) for run in runs}
    reasons = [reason for found in verdicts.values() for reason in found]
    if as_json or STATE.json:
        shown = document if document is not None else runs[0]
        out.print_json(json.dumps({**shown, "gate": {"passed": not reasons, "reasons": reasons}}))
    for reason in reasons:
        err.print(f"[red]gate failed:[/red] {reason}")
    if reasons:
        raise typer.Exit(EXIT_GATE)
    err.print("[green]gate passed[/green]")


def _gate(
    base: Gate,
    min_pass_rate: float | None,
    baseline: str | None,
    max_regression: float | None,
    max_failed_calls: int | None,
) -> Gate:
    """Options override the spec's ``gate``."""
    changes: dict[str, Any] = {
        "min_pass_rate": min_pass_rate, "baseline": baseline,
        "max_regression": max_regression, "max_failed_calls": max_failed_calls,
    }  # fmt: skip
    return replace(base, **{k: v for k, v in changes.items() if v is not None})


def _resolve_prompts(api: Client, body: dict[str, Any]) -> dict[str, Any]:
    """``prompt: <name or id>`` (in the run, or in each of a batch's ``versions``) becomes
    ``prompt_id``."""

    def resolve(part: dict[str, Any]) -> dict[str, Any]:
        part = dict(part)
        if "prompt" in part:
            part["prompt_id"] = _prompt_id(api, str(part.pop("prompt")))
        return part

    resolved = resolve(body)
    if isinstance(resolved.get("versions"), list):
        resolved["versions"] = [resolve(v) for v in resolved["versions"]]
    return resolved


def _prompt_id(api: Client, reference: str) -> str:
    if is_uuid(reference):
        return reference
    found = _find_prompt(api, reference)
    if found is None:
        err.print(f"[red]no prompt is named {reference!r}[/red]")
        raise typer.Exit(EXIT_USAGE)
    return str(found["id"])


def _find_prompt(api: Client, name: str) -> dict[str, Any] | None:
    for prompt in api.pages("/prompts", q=name, archived="all", limit=50):
        if prompt["name"] == name:
            return dict(prompt)
    return None


@app.command()
def advise(
    run_id: Annotated[str, typer.Argument(help="A finished run's id")],
    provider: Annotated[str, typer.Option(help="The judge model's provider")] = "mock",
    model: Annotated[str, typer.Option(help="The judge model")] = "judge",
    focus: Annotated[str | None, typer.Option(help="What to improve first")] = None,
    evaluation: Annotated[
        str | None,
        typer.Option(
            help="Ground it in this evaluation (the run's id: its first; default: latest)"
        ),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Save the revision as a new prompt version")
    ] = False,
    label: Annotated[str | None, typer.Option(help="The saved version's label")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the advice")] = 300.0,
    as_json: Json = False,
) -> None:
    """Optimisation advice on a finished run from a judge model: overall, parameter and model
    advice, a revised template and a plan to validate it. Exit 1 when no usable advice came."""
    body = {"provider": provider, "model": model, "focus": focus, "evaluation_id": evaluation}
    with _api() as api:
        asked = api.post(f"/test_prompt/{run_id}/advice", {k: v for k, v in body.items() if v})
        path = f"/test_prompt/{run_id}/advice/{asked['id']}"
        deadline = time.monotonic() + timeout
        found = asked
        while found["status"] == "requested":
            if time.monotonic() > deadline:
                err.print(f"[red]no advice within {timeout:g} s[/red] (still: {path})")
                raise typer.Exit(EXIT_GATE)
            time.sleep(0.5)
            found = api.get(path)
        if found["status"] == "given" and apply:
            prompt = api.post(f"{path}/apply", {"label": label} if label else {})
            found["saved_version"] = prompt["current_version"]["number"]
    _emit(found, as_json, render.advice_text)
    if found["status"] != "given":
        raise typer.Exit(EXIT_GATE)


def _emit(document: Any, as_json: bool, table: Any) -> None:
    if as_json or STATE.json:
        out.print_json(json.dumps(document))
    else:
        out.print(table(document))


def _load(loader: Any, path: Path) -> Any:
    try:
        return loader(path)
    except (OSError, SpecError, ValueError, TypeError) as error:
        _usage(str(error))


def _usage(message: str) -> Any:
    err.print(f"[red]{message}[/red]")
    raise typer.Exit(EXIT_USAGE)


class _api:
    def __enter__(self) -> Client:
        self._client = STATE.client()
        return self._client

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        self._client.close()
        if isinstance(error, ApiError):
            err.print(f"[red]API error:[/red] {error}")
            for field in error.errors:
                err.print(f"  {field.get('field') or field.get('loc')}: {field.get('msg')}")
            raise typer.Exit(EXIT_API) from error


def run() -> None:
    app()
