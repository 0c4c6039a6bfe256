"""``quick_tests``: every quick test (one call made to try a prompt, ``POST /quick-test``), from
``promptworks.quick_test.completed.v1``: the history the original product's quick-test screen
showed, and the usage the runs' results do not hold.

Invariants:
- One row per quick test; the event is its stream's only event, so the row is never updated
  (applying it twice inserts nothing).
- ``cost`` and ``currency`` are both set (a priced model) or both null, as in ``results`` and
  ``runs``, so usage sums them the same way.
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
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from query_api.tables._base import metadata, project_column
from query_api.tables.runs import MONEY

quick_tests = Table(
    "quick_tests",
    metadata,
    Column("quick_test_id", UUID(as_uuid=True), primary_key=True),
    project_column(),
    Column("prompt_id", UUID(as_uuid=True), nullable=False),
    Column("prompt_version_id", UUID(as_uuid=True), nullable=False),
    Column("prompt_version_number", Integer, nullable=False),
    Column("label", Text, nullable=True),
    Column("provider", Text, nullable=False),
    Column("model_name", Text, nullable=False),
    Column("parameters", JSONB, nullable=False),
    Column("variables", JSONB, nullable=False),
    Column("output", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("cost", MONEY, nullable=True),
    Column("currency", Text, nullable=True),
    Column("latency_ms", Double, nullable=False),
    Column("finish_reason", Text, nullable=True),
    Column("streamed", Boolean, nullable=False),
    Column("actor", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("(cost IS NULL) = (currency IS NULL)", name="ck_quick_tests_priced"),
    # The history, newest first, of a project (and of one prompt); usage's time window.
    Index("ix_quick_tests_project_created", "project_id", "created_at", "quick_test_id"),
    Index("ix_quick_tests_prompt_created", "prompt_id", "created_at", "quick_test_id"),
)

QUICK_TEST_READ_MODEL_TABLES = (quick_tests,)
