from __future__ import annotations

from pathlib import Path

from prompt_service.app import create_app
from prompt_service.settings import PromptServiceSettings
from promptworks_eventkit.cli import service_cli

app = service_cli(
    settings_factory=PromptServiceSettings,
    app_factory=create_app,
    alembic_ini=Path(__file__).resolve().parents[2] / "alembic.ini",
)
