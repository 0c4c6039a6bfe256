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
    evaluation_claim_size: int = Field(
        default=500,
        ge=1,
        le=100_000,
        description="Queued results one worker transaction takes (ADR 0022): larger claims pay "
        "per-transaction costs less often; smaller ones share a run more evenly over replicas.",
    )
    evaluation_workers: int = Field(
        default=1, ge=1, le=64, description="Evaluation workers per process (ADR 0022)."
    )
    evaluation_poll_seconds: float = Field(
        default=0.2,
        gt=0,
        le=60,
        description="How often an idle worker looks for results queued by other replicas.",
    )
