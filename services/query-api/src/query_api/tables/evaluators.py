"""Evaluator definition read models: ``evaluators`` (one row each, its latest version) and
``evaluator_versions`` (every version, with who made it and why: the history).

A version row may be applied before its evaluator's row only if the evaluation topic were
reordered, which per-stream order rules out; the version insert still never needs the parent.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, PrimaryKeyConstraint, Table, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from query_api.tables._base import metadata, trigram_index

evaluators = Table(
    "evaluators",
    metadata,
    Column("evaluator_id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("created_by", Text, nullable=False, server_default=""),
    Column("latest_version", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("stream_version", Integer, nullable=False),
    trigram_index("evaluators", "name"),
)

evaluator_versions = Table(
    "evaluator_versions",
    metadata,
    Column("evaluator_id", UUID(as_uuid=True), nullable=False),
    Column("version", Integer, nullable=False),
    Column("assertions", JSONB, nullable=False),
    Column("message", Text, nullable=False, server_default=""),
    Column("actor", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("stream_version", Integer, nullable=False),
    PrimaryKeyConstraint("evaluator_id", "version"),
)

EVALUATOR_READ_MODEL_TABLES = (evaluators, evaluator_versions)
