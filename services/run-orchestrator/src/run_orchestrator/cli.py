from __future__ import annotations

from pathlib import Path

from promptworks_eventkit.cli import service_cli
from run_orchestrator.app import create_app
from run_orchestrator.settings import RunOrchestratorSettings

app = service_cli(
    settings_factory=RunOrchestratorSettings,
    app_factory=create_app,
    alembic_ini=Path(__file__).resolve().parents[2] / "alembic.ini",
)
