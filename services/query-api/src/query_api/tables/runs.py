"""Run read models: ``runs``, ``run_evaluations``, ``results``, ``metrics`` and ``batches``.

Invariants:
- ``metrics`` has no foreign key to ``results``: evaluation events travel on another topic and
  may be applied before the result they measure. Reads join the two.
- ``run_evaluations`` keeps each run's evaluation summary even when it is applied before the
  run exists; ``runs.evaluation_summary`` is a copy of it, filled in by whichever of the two
  events (RunCreated, RunEvaluated) is applied last.
- ``runs.status`` is written by run events only; evaluation events never touch it.
- ``results.document`` is the result's public JSON exactly as the API answers it (the paged
  list and the NDJSON export), re-rendered in the projection's transaction whenever the result,
  its metrics, its verdict or its run's currency is applied (``projections.result_documents``);
  ``ok`` and ``failed_checks`` are derived beside it so the filters read indexes, not metrics.
- ``result_positions`` numbers the results of every finished run (0, 1, ... in the order of
  every results list); a result applied after its run finished renumbers that run. A run still
  running has none (its pages skip their offset on the index).
- ``batches`` holds each batch's matrix as created; its runs' progress is read from ``runs``
  (by ``batch_id``) at read time, so a batch never needs updating.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    false,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from query_api.tables._base import metadata, project_column

RUN_STATUSES = ("queued", "running", "completed", "failed", "cancelled")
FINISHED_STATUSES = ("completed", "failed", "cancelled")
MONEY = Numeric(36, 12)
RESULTS_FILLFACTOR = 50
"""Half of each page of ``results`` is left free at insert: every result is rewritten once,
when it is evaluated (its document), and a new version that fits on its page is a HOT update
(no index entries, ADR 0026's addendum). A row is about as large as its new version, so half a
page holds the rewrite of every row on it; the table takes twice the pages."""

runs = Table(
    "runs",
    metadata,
    Column("run_id", UUID(as_uuid=True), primary_key=True),
    project_column(),
    Column("prompt_id", UUID(as_uuid=True), nullable=False),
    Column("prompt_version_id", UUID(as_uuid=True), nullable=False),
    Column("prompt_version_number", Integer, nullable=False),
    Column("provider", Text, nullable=False),
    Column("model_name", Text, nullable=False),
    Column("model_version", Text, nullable=True),
    Column("parameters", JSONB, nullable=False),
    Column("repetitions", Integer, nullable=False),
    Column("case_count", Integer, nullable=False),
    Column("assertions", JSONB, nullable=False),
    Column("notes", Text, nullable=True),
    Column("batch_id", Text, nullable=True),
    Column("total_calls", Integer, nullable=False),
    Column("recorded", Integer, nullable=False),
    Column("succeeded", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("failure_reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("evaluation_summary", JSONB, nullable=True),
    Column("stream_version", Integer, nullable=False),
    Column("label", Text, nullable=True),
    Column("currency", Text, nullable=True, comment="Of every amount; null: price unknown"),
    Column("cost", MONEY, nullable=True),
    Column("estimated_cost", MONEY, nullable=True),
    Column("budget", MONEY, nullable=True),
    Column("cancelled_by", Text, nullable=True),
    Column("retry_of", UUID(as_uuid=True), nullable=True),
    Column("evaluator_id", UUID(as_uuid=True), nullable=True),
    Column("evaluator_version", Integer, nullable=True),
    Column("metadata", JSONB, nullable=True, comment="Free JSON the caller kept with the run"),
    CheckConstraint(
        "status IN ('queued', 'running', 'completed', 'failed', 'cancelled')",
        name="ck_runs_status",
    ),
)

# Newest first, the order of every run list; run_id breaks ties so pages never overlap. Every
# list is one project's (prompt, version and batch ids belong to one project already).
Index("ix_runs_created_at", runs.c.project_id, runs.c.created_at.desc(), runs.c.run_id.desc())
Index("ix_runs_status_created_at", runs.c.project_id, runs.c.status, runs.c.created_at.desc())
Index("ix_runs_prompt_version_created_at", runs.c.prompt_version_id, runs.c.created_at.desc())
Index("ix_runs_prompt_created_at", runs.c.prompt_id, runs.c.created_at.desc())
Index("ix_runs_batch_created_at", runs.c.batch_id, runs.c.created_at.desc())

run_evaluations = Table(
    "run_evaluations",
    metadata,
    Column("run_id", UUID(as_uuid=True), primary_key=True),
    Column("summary", JSONB, nullable=False),
)

results = Table(
    "results",
    metadata,
    Column("result_id", UUID(as_uuid=True), primary_key=True),
    Column("run_id", UUID(as_uuid=True), nullable=False),
    Column("case_index", Integer, nullable=False),
    Column("repetition", Integer, nullable=False),
    Column("output", Text, nullable=True),
    Column("latency_ms", Double, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("finish_reason", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("cost", MONEY, nullable=True),
    Column("cached", Boolean, nullable=False, server_default=false()),
    Column(
        "document",
        Text,
        nullable=True,
        comment="The public JSON of the result (null only inside the transaction inserting it)",
    ),
    Column(
        "ok",
        Boolean,
        nullable=True,
        comment="The call succeeded and no check failed (the `passed` filter)",
    ),
    Column(
        "failed_checks",
        ARRAY(Text),
        nullable=False,
        server_default="{}",
        comment="Names of the metrics whose check failed (the `failed_check` filter)",
    ),
    Index("ix_results_run_case_repetition", "run_id", "case_index", "repetition", "result_id"),
    Index("ix_results_run_ok", "run_id", "ok", "case_index", "repetition", "result_id"),
    Index("ix_results_failed_checks", "failed_checks", postgresql_using="gin"),
    # Usage reads a window of time across runs (queries.usage).
    Index("ix_results_created_at", "created_at"),
    Index(
        "ix_results_output_trgm",
        "output",
        postgresql_using="gin",
        postgresql_ops={"output": "gin_trgm_ops"},
    ),
    postgresql_with={"fillfactor": RESULTS_FILLFACTOR},
)

metrics = Table(
    "metrics",
    metadata,
    Column("result_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("value", Double, nullable=True),
    Column("passed", Boolean, nullable=True),
    Column("detail", Text, nullable=True),
    PrimaryKeyConstraint("result_id", "name"),
)

result_verdicts = Table(
    "result_verdicts",
    metadata,
    Column("result_id", UUID(as_uuid=True), primary_key=True),
    Column("passed", Boolean, nullable=True),
    Column("score", Double, nullable=True),
    Column("reasons", JSONB, nullable=False, server_default="[]"),
    Column("judgements", JSONB, nullable=False, server_default="[]"),
    Column("output_checks", JSONB, nullable=True),
    comment="Per result: the verdict of its latest evaluation (joined on read, like metrics)",
)

result_positions = Table(
    "result_positions",
    metadata,
    Column("run_id", UUID(as_uuid=True), nullable=False),
    Column("position", Integer, nullable=False),
    Column("result_id", UUID(as_uuid=True), nullable=False),
    PrimaryKeyConstraint("run_id", "position"),
    comment="Each result's place in its finished run, (case_index, repetition) order: a page "
    "at any offset is one range read (numbered when the run finishes)",
)

batches = Table(
    "batches",
    metadata,
    Column("batch_id", UUID(as_uuid=True), primary_key=True),
    project_column(),
    Column("name", Text, nullable=True),
    Column("cells", JSONB, nullable=False, comment="The matrix: run, version, model, parameters"),
    Column("total_calls", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("stream_version", Integer, nullable=False),
)
Index(
    "ix_batches_created_at",
    batches.c.project_id,
    batches.c.created_at.desc(),
    batches.c.batch_id.desc(),
)

run_counts = Table(
    "run_counts",
    metadata,
    project_column(),
    Column("partition", Integer, nullable=False, comment="of topic promptworks.run"),
    Column("runs", BigInteger, nullable=False),
    PrimaryKeyConstraint("project_id", "partition"),
)
"""How many runs each project has, per partition: the total of the unfiltered run list without
counting every run (``prompt_counts``' reasoning: one writer per row, no contention)."""

RUN_READ_MODEL_TABLES = (
    runs,
    run_counts,
    run_evaluations,
    results,
    metrics,
    result_verdicts,
    result_positions,
    batches,
)
