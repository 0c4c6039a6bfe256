"""``promptworks run`` and ``promptworks batch``: start from a spec, follow the live stream
with a progress bar, print or export the results, and gate (exit 1) on thresholds or a
regression from a baseline run."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from promptworks_cli import render
from promptworks_cli.client import ApiError, Client
from promptworks_cli.gate import failures
from promptworks_cli.prompts import prompt_id
from promptworks_cli.session import EXIT_GATE, STATE, Json, connected, emit, err, load, out, usage
from promptworks_cli.specs import Gate, load_run

runs_app = typer.Typer(help="Test runs: start, watch, results, gate", no_args_is_help=True)
batches_app = typer.Typer(help="Batches: a matrix of runs", no_args_is_help=True)

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
    loaded = load(load_run, spec)
    gate = _gate(loaded.gate, min_pass_rate, baseline, max_regression, max_failed_calls)
    with connected() as api:
        body = _resolve_prompts(api, loaded.body)
        if loaded.batch:
            created = api.post("/batches", body)
            batch_id = str(created.get("id") or created.get("batch_id"))
            err.print(f"batch {batch_id} started")
            if watch:
                _finish_batch(api, batch_id, gate, as_json)
            else:
                emit(created, as_json, render.batch_table)
            return
        created = api.post("/test_prompt", body)
        run_id = str(created.get("id") or created.get("run_id"))
        err.print(f"run {run_id} started ({created.get('total_calls', '?')} calls)")
        if watch:
            _finish_run(api, run_id, gate, as_json)
        else:
            emit(created, as_json, render.run_table)


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
    with connected() as api:
        _finish_run(api, run_id, gate, as_json)


@runs_app.command("show")
def run_show(run_id: Annotated[str, typer.Argument()], as_json: Json = False) -> None:
    """A run's status, counts, cost and evaluation summary."""
    with connected() as api:
        run = api.get(f"/test_prompt/{run_id}")
    emit(run, as_json, render.run_table)
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
    with connected() as api:
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
        usage(f"--format must be table, csv or jsonl, not {format}")
    passed = False if failed_only else None
    with connected() as api:
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
    with connected() as api:
        _finish_batch(api, batch_id, Gate(min_pass_rate=min_pass_rate), as_json)


@batches_app.command("show")
def batch_show(batch_id: Annotated[str, typer.Argument()], as_json: Json = False) -> None:
    """A batch's matrix: each run's status, progress, pass rate and cost."""
    with connected() as api:
        batch = api.get(f"/batches/{batch_id}")
    emit(batch, as_json, render.batch_table)


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
            part["prompt_id"] = prompt_id(api, str(part.pop("prompt")))
        return part

    resolved = resolve(body)
    if isinstance(resolved.get("versions"), list):
        resolved["versions"] = [resolve(v) for v in resolved["versions"]]
    return resolved
