from __future__ import annotations

from pydantic import Field, SecretStr

from promptworks_eventkit.settings import ServiceSettings


class EvaluatorSettings(ServiceSettings):
    service_name: str = "evaluator"
    http_port: int = 8003
    database_url: SecretStr = SecretStr(
        "postgresql+asyncpg://promptworks:promptworks@127.0.0.1:54329/evaluator"
    )
    run_orchestrator_url: str = Field(
        default="http://127.0.0.1:8002",
        description="Where judge calls go (run-orchestrator's internal completions).",
    )
    judge_concurrency: int = Field(
        default=16, ge=1, le=1000, description="Judge calls in flight at once per process."
    )
