from __future__ import annotations

from pathlib import Path

from promptworks_eventkit.cli import service_cli
from query_api.app import create_app
from query_api.settings import QueryApiSettings

app = service_cli(
    settings_factory=QueryApiSettings,
    app_factory=create_app,
    alembic_ini=Path(__file__).resolve().parents[2] / "alembic.ini",
)
