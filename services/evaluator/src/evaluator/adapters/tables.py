"""The evaluator's own tables besides the shared event store, outbox and consumer tables.

All written in the consumer's transaction, with its offsets:
- ``runs``: one row per run seen in a ``RunCreated``: its spec (``assertions``, ``cases``,
  never changed after insert) and its state (``RunState`` in ``handlers/ports.py``, where the
  invariants of ``evaluated``, ``stream_version`` and ``status`` are written down).
- ``run_metric_stats``: running statistics per (run, metric), see ``domain/stats.py``.
- ``result_outcomes``: per evaluated result what the run's statistics need (verdict, latency,
  output fingerprint, cost), see ``domain/run_statistics.py``; read once, when the run ends.
Both are keyed by the evaluation they sum up in their ``run_id`` column: the run's id for its
first evaluation, a re-evaluation's id for that one (ids are UUIDs: they never collide).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from evaluator.handlers.ports import RUNNING
from promptworks_contracts.projects import DEFAULT_PROJECT

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("assertions", JSONB, nullable=False),
    Column("cases", JSONB, nullable=False),
    Column("expected", JSONB, nullable=False, server_default="[]"),
    # The run's project: its judges call that project's providers (ADR 0017).
    Column("project_id", Text, nullable=False, server_default="default"),
    # What the run asked its model (prompt, template, model, parameters), for optimisation
    # advice; null for runs seen before it existed (ADR 0024).
    Column("subject", JSONB, nullable=True),
    Column("total_calls", Integer, nullable=False),
    Column("evaluated", Integer, nullable=False, server_default="0"),
    Column("stream_version", Integer, nullable=False, server_default="0"),
    Column("status", Text, nullable=False, server_default=RUNNING),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Fan-out (ADR 0022): the run's end status and the end event's context while its last
    # results are still being evaluated.
    # Results queued, as a release before migration 0012 counted them; 0012 moved the counts to
    # ``recorded_results``. Kept, and added to that count, for a replica of that release still
    # running (expand now, drop in a later release).
    Column("recorded", Integer, nullable=False, server_default="0"),
    Column("ending", Text, nullable=True),
    Column("end_context", JSONB, nullable=True),
)

# Per run, the results the runs consumer queued for evaluation. A table of its own (ADR 0022's
# fifteenth-session addendum): the consumer adds to it without waiting for the run's row, which the
# workers hold locked from their writes to their commit; a worker reads it only once it holds
# that lock (``load_states``), so it sees every result queued before the run's end.
recorded_results = Table(
    "recorded_results",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("recorded", Integer, nullable=False),
)

run_metric_stats = Table(
    "run_metric_stats",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("sum", Double, nullable=False),
    Column("sum_squares", Double, nullable=False, server_default="0"),
    Column("min", Double, nullable=True),
    Column("max", Double, nullable=True),
    Column("passed", BigInteger, nullable=False),
    Column("failed", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "name"),
)

result_outcomes = Table(
    "result_outcomes",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("result_id", Text, nullable=False),
    Column("case_index", Integer, nullable=False),
    Column("repetition", Integer, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("latency_ms", Double, nullable=False),
    Column("digest", Text, nullable=True),
    Column("cost_amount", Numeric, nullable=True),
    Column("cost_currency", Text, nullable=True),
    Column("judge_cost_amount", Numeric, nullable=True),
    Column("judge_cost_currency", Text, nullable=True),
    Column("judge_prompt_tokens", Integer, nullable=False, server_default="0"),
    Column("judge_completion_tokens", Integer, nullable=False, server_default="0"),
    PrimaryKeyConstraint("run_id", "result_id"),
)

# Evaluator definitions (command side, ``handlers/definitions.py``): their streams are the truth;
# these rows are written in the command's transaction and serve lookups (a unique name, a
# version's assertions for a run or a re-evaluation) without folding a stream.
evaluator_definitions = Table(
    "evaluator_definitions",
    metadata,
    Column("evaluator_id", Text, primary_key=True),
    Column("project_id", Text, nullable=False, server_default=DEFAULT_PROJECT),
    Column("name", Text, nullable=False),
    Column("latest_version", Integer, nullable=False),
    # Names are unique per project (ADR 0017).
    Index("ux_evaluator_definitions_project_name", "project_id", "name", unique=True),
)

evaluator_versions = Table(
    "evaluator_versions",
    metadata,
    Column("evaluator_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("assertions", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("evaluator_id", "version"),
)

# What re-evaluation needs (``handlers/reevaluation.py``): every recorded result as its
# ``ResultRecorded`` event (the output, error, usage, cost, latency), kept by the runs consumer
# in its transaction; and one row per re-evaluation, unique per (run, evaluator version), so
# asking twice makes one. The rows are also the re-evaluation work queue: ``requested`` until
# the worker evaluated it, in the transaction that appends its events.
result_records = Table(
    "result_records",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("result_id", Text, nullable=False),
    Column("record", Text, nullable=False, comment="The event's JSON, as the consumer got it"),
    PrimaryKeyConstraint("run_id", "result_id"),
)

# Results waiting for a worker (ADR 0022): queued by the runs consumer in its transaction,
# deleted by the worker that evaluates them in the transaction that appends their events. The
# context of each result's ``ResultRecorded`` travels with it to the events it causes; where it
# came from (event id, partition, offset, stream version) makes a dead letter of a result whose
# evaluation keeps failing. A re-evaluation's rows (ADR 0022, addendum) name it
# (``evaluation_id``; null: the run's first evaluation), carry its request's context and have no
# origin (they come from ``result_records``, not from a Kafka record).
evaluation_queue = Table(
    "evaluation_queue",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    Column("run_id", Text, nullable=False),
    Column("result_id", Text, nullable=False),
    Column("correlation_id", Text, nullable=False),
    Column("traceparent", Text, nullable=True),
    Column("project_id", Text, nullable=False, server_default=DEFAULT_PROJECT),
    Column("event_id", Text, nullable=True),
    Column("partition", Integer, nullable=True),
    Column("offset", BigInteger, nullable=True),
    Column("stream_version", Integer, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("evaluation_id", Text, nullable=True),
    # A result is queued once per evaluation (its first: evaluation_id null).
    Index(
        "ux_evaluation_queue_result",
        "run_id",
        "result_id",
        text("coalesce(evaluation_id, '')"),
        unique=True,
    ),
)

evaluations = Table(
    "evaluations",
    metadata,
    Column("evaluation_id", Text, primary_key=True),
    Column("run_id", Text, nullable=False),
    Column("evaluator_id", Text, nullable=False),
    Column("evaluator_version", Integer, nullable=False),
    Column("assertions", JSONB, nullable=False),
    Column("status", Text, nullable=False, server_default="requested"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Spread over the workers of every replica (ADR 0022, addendum): ``requested`` until its
    # kept results are queued (``queued`` of them, status ``queued``), ``evaluated`` once its
    # summary is appended, by whoever counts the last one (``evaluated`` + ``failed`` reach
    # ``queued``); changed only under the run row's lock. ``failed``: results dead-lettered.
    Column("queued", Integer, nullable=False, server_default="0"),
    Column("evaluated", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("request_context", JSONB, nullable=True, comment="The request's context"),
    UniqueConstraint("run_id", "evaluator_id", "evaluator_version"),
    Index("ix_evaluations_queued", "evaluation_id", postgresql_where=text("status = 'queued'")),
)

# Judgements already paid for, kept by question key in their own transaction as soon as they
# are answered, so a batch that rolls back after its judge calls does not pay twice; the
# batch's transaction deletes the keys it used (``handlers/judging.py``).
kept_judgements = Table(
    "kept_judgements",
    metadata,
    Column("key", Text, primary_key=True),
    Column("judgement", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Optimisation advice asked for (``handlers/advice.py``): one row per request, also the advice
# worker's queue (``requested`` until given or failed, in the transaction appending the event).
advice = Table(
    "advice",
    metadata,
    Column("advice_id", Text, primary_key=True),
    Column("run_id", Text, nullable=False),
    Column("project_id", Text, nullable=False, server_default=DEFAULT_PROJECT),
    Column("provider", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("focus", Text, nullable=True),
    Column("max_attempts", Integer, nullable=False),
    Column("evaluation_id", Text, nullable=True, comment="The evaluation it is grounded in"),
    Column("status", Text, nullable=False, server_default="requested"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_advice_requested", "created_at", postgresql_where=text("status = 'requested'")),
)
