"""run-orchestrator's own tables besides the shared event store, outbox and consumer tables.

Invariants:
- ``prompt_labels`` copies where each prompt's labels point (PromptLabelMoved/Removed), so a
  run can name ``production`` instead of a version id.
- ``prompt_versions`` is a local copy of prompt versions, filled from PromptVersionCreated by
  the consumer; runs read it, never prompt-service's database. Versions are immutable, so an
  insert that meets an existing row does nothing.
- ``runs`` is the executor's work list. Its row is inserted in the same transaction as the
  run's RunCreated, and ``status``/counters change only in the transactions that append the
  matching events, so it always agrees with the run's stream.
- ``provider_catalog`` is the catalog as its events describe it, plus each provider's
  encrypted credential (never in an event); written in the transactions that append them.
  Each project has its own catalog: a name is unique within its project (ADR 0017).
- ``response_cache`` is shared by every replica: answers of runs that use the cache, by
  ``domain.caching.cache_key``; written with the results they answered, read at a run's start.
- ``embedding_cache`` is shared by every replica: vectors of texts embedded for other
  services (``/internal/embeddings``), by ``domain.caching.embedding_key``, as little-endian
  float64 bytes; read before a call, written after it, older than its TTL ignored.
- ``run_results`` holds one row per recorded (case, repetition), written with the
  ResultRecorded batch; its primary key makes a duplicate result impossible and tells a
  resumed run what is left to do.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from promptworks_contracts.projects import DEFAULT_PROJECT

metadata = MetaData()

prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column("version_id", UUID(as_uuid=True), primary_key=True),
    Column("prompt_id", UUID(as_uuid=True), nullable=False),
    Column("number", Integer, nullable=False),
    Column("label", Text, nullable=True),
    Column("template", JSONB, nullable=False),
    Column("variables", JSONB, nullable=False),
    Column("default_model", JSONB, nullable=True),
    Column("default_parameters", JSONB, nullable=True),
    Column("project_id", Text, nullable=False, server_default=DEFAULT_PROJECT),
)

prompt_labels = Table(
    "prompt_labels",
    metadata,
    Column("prompt_id", UUID(as_uuid=True), nullable=False),
    Column("label", Text, nullable=False),
    Column("version_id", UUID(as_uuid=True), nullable=False),
    PrimaryKeyConstraint("prompt_id", "label"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", UUID(as_uuid=True), primary_key=True),
    Column("status", Text, nullable=False),
    Column("total_calls", Integer, nullable=False),
    Column("recorded", Integer, nullable=False, server_default="0"),
    Column("succeeded", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("cost", Numeric(36, 12), nullable=True),
    Column("cancel_requested_by", Text, nullable=True),
    Column("project_id", Text, nullable=False, server_default=DEFAULT_PROJECT),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(
        "ix_runs_unfinished",
        "created_at",
        postgresql_where=text("status IN ('queued', 'running')"),
    ),
)

run_results = Table(
    "run_results",
    metadata,
    Column("run_id", UUID(as_uuid=True), nullable=False),
    Column("case_index", Integer, nullable=False),
    Column("repetition", Integer, nullable=False),
    Column("result_id", UUID(as_uuid=True), nullable=False),
    Column("failed", Boolean, nullable=False, server_default=false()),
    PrimaryKeyConstraint("run_id", "case_index", "repetition"),
)

provider_catalog = Table(
    "provider_catalog",
    metadata,
    Column("provider_id", UUID(as_uuid=True), primary_key=True),
    Column("project_id", Text, nullable=False, server_default="default"),
    Column("name", Text, nullable=False),
    Column("state", JSONB, nullable=False),
    Column("secret", LargeBinary, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("project_id", "name", name="uq_provider_catalog_project_name"),
)

response_cache = Table(
    "response_cache",
    metadata,
    Column("key", Text, primary_key=True),
    Column("output", Text, nullable=False),
    Column("usage", JSONB, nullable=False),
    Column("finish_reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

embedding_cache = Table(
    "embedding_cache",
    metadata,
    Column("key", Text, primary_key=True),
    Column("vector", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The shared rate-limit schedules (execution/limits.py, adapters/rate_limits.py): one row per
# (provider, model) key; ``tat`` is the GCRA's theoretical arrival time, in epoch seconds on
# the database's clock. Created by migration 0003.
rate_limit_schedules = Table(
    "rate_limit_schedules",
    metadata,
    Column("key", Text, primary_key=True),
    Column("tat", Float(precision=53), nullable=False),
)

OWN_TABLES = (
    prompt_versions,
    prompt_labels,
    runs,
    run_results,
    provider_catalog,
    response_cache,
    embedding_cache,
)
