"""The evaluator's own tables besides the shared event store, outbox and consumer tables.

Invariants (all written in the consumer's transaction, with its offsets):
- ``runs``: one row per run seen in a ``RunCreated``; ``assertions`` and ``cases`` never change
  after insert. ``stream_version`` is the version of the run's EVALUATION stream (the events
  this service appended), ``evaluated`` the number of results evaluated so far.
  ``status``: ``running`` until the run's ``RunCompleted``/``RunFailed``, then ``completed`` or
  ``failed``; ``RunEvaluated`` is appended exactly when it leaves ``running``.
- ``run_metric_stats``: running statistics per (run, metric), see ``domain/stats.py``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Double,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

RUNNING = "running"

runs = Table(
    "runs",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("assertions", JSONB, nullable=False),
    Column("cases", JSONB, nullable=False),
    Column("total_calls", Integer, nullable=False),
    Column("evaluated", Integer, nullable=False, server_default="0"),
    Column("stream_version", Integer, nullable=False, server_default="0"),
    Column("status", Text, nullable=False, server_default=RUNNING),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

run_metric_stats = Table(
    "run_metric_stats",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("sum", Double, nullable=False),
    Column("min", Double, nullable=True),
    Column("max", Double, nullable=True),
    Column("passed", BigInteger, nullable=False),
    Column("failed", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "name"),
)
