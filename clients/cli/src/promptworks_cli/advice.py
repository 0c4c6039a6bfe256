"""``promptworks advise``: optimisation advice on a finished run from a judge model, and the
revision saved as a new prompt version on request."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from promptworks_cli import render
from promptworks_cli.session import EXIT_GATE, Json, connected, emit, err


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
    with connected() as api:
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
    emit(found, as_json, render.advice_text)
    if found["status"] != "given":
        raise typer.Exit(EXIT_GATE)
