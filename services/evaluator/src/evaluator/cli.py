from __future__ import annotations

from pathlib import Path

from evaluator.app import create_app
from evaluator.settings import EvaluatorSettings
from promptworks_eventkit.cli import service_cli

app = service_cli(
    settings_factory=EvaluatorSettings,
    app_factory=create_app,
    alembic_ini=Path(__file__).resolve().parents[2] / "alembic.ini",
)
