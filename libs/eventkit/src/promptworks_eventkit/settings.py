"""Settings every service shares, read from the environment (12-factor, Kubernetes-friendly)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:19092"
    topic_prefix: str = Field(
        default="",
        description="Prepended to every topic name; lets several deployments share one cluster.",
    )
    client_id: str | None = None
    topic_partitions: int = Field(default=3, ge=1)
    topic_replication_factor: int | None = Field(
        default=None,
        ge=1,
        description="Replicas of each topic the `topics` command creates; unset: 1 with one "
        "bootstrap broker, 3 with several.",
    )
    topic_min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="`min.insync.replicas` of the topics `topics` creates (with acks=all, how "
        "many replicas must have a write); unset: the broker's default.",
    )
    max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=1024 * 1024)
    # A fetch response is held whole, and copied, while its records are decoded: these bound a
    # consumer's memory during a backlog. A message larger than either still arrives (the broker
    # answers a fetch's first batch whatever its size, KIP-74); they are not message limits.
    fetch_max_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=64 * 1024,
        description="Bytes a consumer's fetch asks for, across partitions (Kafka's "
        "`fetch.max.bytes`). Larger: fewer fetches in a backlog, more memory.",
    )
    max_partition_fetch_bytes: int = Field(
        default=1024 * 1024,
        ge=64 * 1024,
        description="Bytes a consumer's fetch asks for per partition (Kafka's "
        "`max.partition.fetch.bytes`).",
    )

    # aiokafka fetches a partition again only once its fetched records are consumed; after
    # 100 ms unconsumed (a slow batch) it fetches the node's other partitions alone, and the
    # consumed one waits for that fetch, which idle partitions hold for this long (ADR 0026's
    # addendum of the ninth session). It bounds that stall; an idle consumer fetches this often.
    fetch_max_wait_ms: int = Field(
        default=50,
        ge=1,
        description="The longest a consumer's fetch waits on the broker for records (Kafka's "
        "`fetch.max.wait.ms`). Lower: a shorter stall after a slow batch, more idle fetches.",
    )

    consumer_stall_seconds: float = Field(
        default=60.0,
        ge=1.0,
        allow_inf_nan=False,
        description="A consumer that applies nothing for this long, and is neither caught up "
        "nor (owning no partition) a member of its group, gets a new Kafka client (ADR 0034).",
    )

    def replication_factor(self) -> int:
        if self.topic_replication_factor is not None:
            return self.topic_replication_factor
        return 1 if "," not in self.bootstrap_servers else 3

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def logical_topic(self, physical: str) -> str:
        """Strips the deployment prefix from a physical topic name."""
        return physical.removeprefix(self.topic_prefix)


class ServiceSettings(BaseSettings):
    """Base of each service's settings; a service subclasses it with its own defaults."""

    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__")

    service_name: str = "promptworks"
    database_url: SecretStr = SecretStr(
        "postgresql+asyncpg://promptworks:promptworks@127.0.0.1:54329/promptworks"
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    db_pool_size: int = Field(default=10, ge=1)
    db_pool_pre_ping: bool = Field(
        default=True,
        description="Test each database connection before use (three round trips with "
        "asyncpg); off, a connection closed by a database restart fails one statement and the "
        "pool is then renewed.",
    )
    max_request_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="The largest request body accepted (413 above it); a run's cases must fit "
        "in one event, and Kafka's max.message.bytes is 16 MiB.",
    )
    service_token: SecretStr | None = Field(
        default=None,
        description="The shared service credential: query-api presents it to the command "
        "services (`Authorization: Bearer ...`), which refuse every other caller (401). "
        "Unset, a command service refuses every API call.",
    )
