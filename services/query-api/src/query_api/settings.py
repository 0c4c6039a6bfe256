from __future__ import annotations

from pydantic import Field, SecretStr

from promptworks_eventkit.settings import ServiceSettings


class QueryApiSettings(ServiceSettings):
    service_name: str = "query-api"
    http_port: int = 8000
    database_url: SecretStr = SecretStr(
        "postgresql+asyncpg://promptworks:promptworks@127.0.0.1:54329/query_api"
    )
    prompt_service_url: str = Field(
        default="http://127.0.0.1:8001", description="Where public prompt writes are forwarded."
    )
    run_orchestrator_url: str = Field(
        default="http://127.0.0.1:8002", description="Where public run writes are forwarded."
    )
    read_your_writes_timeout: float = Field(
        default=5.0,
        ge=0.0,
        le=60.0,
        description="How long a forwarded write waits for its own projection before a 202.",
    )
    command_timeout: float = Field(
        default=30.0, gt=0.0, description="Read timeout of a forwarded call (seconds)."
    )
    cors_allow_origins: list[str] = Field(
        default_factory=list,
        description='Browser origins allowed to call the API, e.g. ["http://localhost:5173"].',
    )
    live_poll_interval: float = Field(
        default=0.5,
        gt=0.0,
        le=10.0,
        description="How often a live progress stream reads its run or batch (seconds).",
    )
    live_heartbeat: float = Field(
        default=15.0,
        gt=0.0,
        le=300.0,
        description="A live progress stream sends a comment when it has been quiet this long, "
        "so proxies keep the connection open (seconds).",
    )
    live_evaluation_wait: float = Field(
        default=60.0,
        ge=0.0,
        le=3600.0,
        description="How long after a run finished its live stream waits for the evaluation "
        "summary before ending without it (seconds).",
    )
