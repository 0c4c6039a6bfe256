from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from promptworks_eventkit.cli import service_cli, worker_process_app
from query_api.app import create_app
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
