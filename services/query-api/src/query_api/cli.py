from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from fastapi import FastAPI

from promptworks_eventkit.cli import (
    explained_when_unreachable,
    load_settings,
    service_cli,
    worker_process_app,
)
from promptworks_eventkit.logging import configure_logging
from query_api.app import create_app
from query_api.rebuild.replay import RebuildError, rebuild, roll_back
from query_api.settings import QueryApiSettings


def worker_app() -> FastAPI:
    """One HTTP worker process of ``query-api serve --workers N`` (``WEB_CONCURRENCY``)."""
    return worker_process_app(QueryApiSettings, create_app)


app = service_cli(
    settings_factory=QueryApiSettings,
    app_factory=create_app,
    alembic_ini=Path(__file__).resolve().parents[2] / "alembic.ini",
    worker_app="query_api.cli:worker_app",
)


@app.command("rebuild")
def rebuild_command(
    keep_previous: bool = typer.Option(
        True,
        "--keep-previous/--drop-previous",
        help="Keep the replaced read models (schema read_models_previous) for --rollback.",
    ),
    rollback: bool = typer.Option(
        False, "--rollback", help="Switch back to the models the last rebuild replaced."
    ),
    processes: int | None = typer.Option(
        None,
        "--processes",
        min=1,
        help="Processes the replay is spread over (default: the CPUs the process may use, at "
        "most 8, one per 50,000 records).",
    ),
) -> None:
    """Rebuild every read model from the topics into a new schema while query-api keeps
    serving and projecting, then switch to it atomically (ADR 0023)."""
    settings = load_settings(QueryApiSettings)
    configure_logging(settings.service_name, settings.log_level, settings.log_json)

    def echo(line: str) -> None:
        typer.echo(line, err=True)

    try:
        with explained_when_unreachable(settings):
            if rollback:
                asyncio.run(roll_back(settings, echo=echo))
            else:
                asyncio.run(
                    rebuild(settings, keep_previous=keep_previous, echo=echo, processes=processes)
                )
    except RebuildError as error:
        typer.echo(f"rebuild: {error}", err=True)
        raise typer.Exit(1) from None
