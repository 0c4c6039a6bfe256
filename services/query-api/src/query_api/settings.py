from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from promptworks_eventkit.settings import ServiceSettings
from query_api.auth.keys import DEFAULT_PEPPER


class QueryApiSettings(ServiceSettings):
    service_name: str = "query-api"
    http_port: int = 8000
    db_pool_pre_ping: bool = Field(
        default=False,
        description="Off here: a read is a few short statements, and the ping tripled its "
        "round trips. After a database restart the reads in flight fail once (503/500) and the "
        "pool renews its connections.",
    )
    database_url: SecretStr = SecretStr(
        "postgresql+asyncpg://promptworks:promptworks@127.0.0.1:54329/query_api"
    )
    prompt_service_url: str = Field(
        default="http://127.0.0.1:8001", description="Where public prompt writes are forwarded."
    )
    run_orchestrator_url: str = Field(
        default="http://127.0.0.1:8002", description="Where public run writes are forwarded."
    )
    evaluator_url: str = Field(
        default="http://127.0.0.1:8003",
        description="Where the evaluator's operator routes (dead letters) are forwarded.",
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
    bootstrap_admin_key: SecretStr | None = Field(
        default=None,
        description="An admin API key from the configuration (e.g. a Kubernetes Secret), to "
        "create the other keys with; rotate it by changing it and restarting.",
    )
    bootstrap_admin_key_file: Path | None = Field(
        default=None,
        description="A file holding the bootstrap admin key (e.g. a mounted secret); wins "
        "over BOOTSTRAP_ADMIN_KEY.",
    )
    api_key_pepper: SecretStr | None = Field(
        default=None,
        description="The key of the HMAC that stores API keys' digests: with it, a copy of the "
        "database alone cannot be used to test guessed keys. Changing it invalidates every "
        "stored key.",
    )
    rate_limit_per_minute: int = Field(
        default=3000,
        ge=0,
        description="Requests a minute each API key may make on average (0: no limit); per "
        "query-api process.",
    )
    web_dist: Path | None = Field(
        default=None,
        description="The web console's build (web/dist): served at / when it holds an "
        "index.html; unset, query-api serves the API only.",
    )
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0.0,
        le=300.0,
        description="How long a process keeps a found API key before reading it again (0: read "
        "it on every request). A key revoked on another worker or replica stops working within "
        "this time; the process that revokes it stops at once.",
    )
    web_concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        description="HTTP worker processes of `query-api serve` (`--workers` wins). Each runs "
        "the whole service (its share of the projection consumer too); on Kubernetes keep 1 and "
        "scale replicas.",
    )
    rebuild_fetch_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=64 * 1024,
        description="`KAFKA_FETCH_MAX_BYTES` of `rebuild`'s replay: a bulk job fills its "
        "20,000-record batches from larger fetches (at the live 4 MiB a batch held ~5,000 "
        "records and the replay ran 35 % slower).",
    )
    rebuild_max_partition_fetch_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=64 * 1024,
        description="`KAFKA_MAX_PARTITION_FETCH_BYTES` of `rebuild`'s replay.",
    )
    page_cache_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=0,
        description="Memory each worker may keep the hottest pages' answers in (a run's results "
        "page, the first pages of the run and prompt lists), served until their project's "
        "read models change: a worker hears every change over PostgreSQL's LISTEN before "
        "serving a kept page (ADR 0030). 0: every page is read from PostgreSQL.",
    )
    rate_limit_burst: int = Field(
        default=300, ge=1, description="Requests an API key may make at once before the limit."
    )

    def bootstrap_key(self) -> str | None:
        """The bootstrap admin key, read from its file when one is named."""
        if self.bootstrap_admin_key_file is not None:
            value = self.bootstrap_admin_key_file.read_text().strip()
            return value or None
        if self.bootstrap_admin_key is not None:
            return self.bootstrap_admin_key.get_secret_value().strip() or None
        return None

    def pepper(self) -> bytes:
        if self.api_key_pepper is None:
            return DEFAULT_PEPPER
        return self.api_key_pepper.get_secret_value().encode()
