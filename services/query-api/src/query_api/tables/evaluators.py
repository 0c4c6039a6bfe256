"""Evaluator definition read models: ``evaluators`` (one row each, its latest version) and
``evaluator_versions`` (every version, with who made it and why: the history); and the
evaluations of each run.

A run's first evaluation (made as its results arrived) lives in ``metrics`` and
``result_verdicts``, as it always did: that hot path is unchanged. Each RE-evaluation's
per-result metrics and verdicts live in ``evaluation_metrics`` / ``evaluation_verdicts``, keyed
by its id. ``evaluations`` lists every evaluation of a run, the first one included (its id is
the run's id), with its summary; "the latest" is the evaluated one latest in the run's
evaluation stream (``stream_version``: one stream per run keeps them in order).

A version row may be applied before its evaluator's row only if the evaluation topic were
reordered, which per-stream order rules out; the version insert still never needs the parent.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from promptworks_contracts.projects import DEFAULT_PROJECT
from query_api.tables._base import metadata, trigram_index

evaluators = Table(
    "evaluators",
    metadata,
    Column("evaluator_id", UUID(as_uuid=True), primary_key=True),
    Column("project_id", Text, nullable=False, server_default=DEFAULT_PROJECT),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("created_by", Text, nullable=False, server_default=""),
    Column("latest_version", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("stream_version", Integer, nullable=False),
    trigram_index("evaluators", "name"),
    Index("ix_evaluators_project_name", "project_id", "name"),
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

evaluations = Table(
    "evaluations",
    metadata,
    Column("evaluation_id", UUID(as_uuid=True), primary_key=True),
    Column("run_id", UUID(as_uuid=True), nullable=False),
    Column("evaluator_id", UUID(as_uuid=True), nullable=True, comment="null: inline assertions"),
    Column("evaluator_version", Integer, nullable=True),
    Column("status", Text, nullable=False, comment="requested or evaluated"),
    Column("requested_by", Text, nullable=False, server_default=""),
    Column("requested_at", DateTime(timezone=True), nullable=True),
    Column("evaluated_at", DateTime(timezone=True), nullable=True),
    Column("summary", JSONB, nullable=True),
    Column("stream_version", Integer, nullable=False, comment="Of its request in the stream"),
    Index("ix_evaluations_run", "run_id", "stream_version"),
)

evaluation_metrics = Table(
    "evaluation_metrics",
    metadata,
    Column("evaluation_id", UUID(as_uuid=True), nullable=False),
    Column("result_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("value", Double, nullable=True),
    Column("passed", Boolean, nullable=True),
    Column("detail", Text, nullable=True),
    PrimaryKeyConstraint("evaluation_id", "result_id", "name"),
)

evaluation_verdicts = Table(
    "evaluation_verdicts",
    metadata,
    Column("evaluation_id", UUID(as_uuid=True), nullable=False),
    Column("result_id", UUID(as_uuid=True), nullable=False),
    Column("passed", Boolean, nullable=True),
    Column("score", Double, nullable=True),
    Column("reasons", JSONB, nullable=False, server_default="[]"),
    Column("judgements", JSONB, nullable=False, server_default="[]"),
    Column("output_checks", JSONB, nullable=True),
    PrimaryKeyConstraint("evaluation_id", "result_id"),
)

# Optimisation advice on runs (ADR 0024): one row per advice stream; ``status`` requested,
# given (``advice`` holds it) or failed (``error``).
advice = Table(
    "advice",
    metadata,
    Column("advice_id", UUID(as_uuid=True), primary_key=True),
    Column("run_id", UUID(as_uuid=True), nullable=False),
    Column("project_id", Text, nullable=False, server_default=DEFAULT_PROJECT),
    Column("provider", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("focus", Text, nullable=True),
    Column("prompt_id", UUID(as_uuid=True), nullable=True),
    Column("prompt_version_number", Integer, nullable=True),
    Column("evaluation_id", UUID(as_uuid=True), nullable=True),
    Column("status", Text, nullable=False, comment="requested, given or failed"),
    Column("advice", JSONB, nullable=True),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("usage", JSONB, nullable=True),
    Column("cost", JSONB, nullable=True),
    Column("requested_by", Text, nullable=False, server_default=""),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("stream_version", Integer, nullable=False),
    Index("ix_advice_run", "run_id", "requested_at"),
)

EVALUATOR_READ_MODEL_TABLES = (
    evaluators,
    evaluator_versions,
    evaluations,
    evaluation_metrics,
    evaluation_verdicts,
)
ADVICE_READ_MODEL_TABLES = (advice,)
