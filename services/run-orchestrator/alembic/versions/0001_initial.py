"""Event store and outbox, consumer checkpoints, the prompt-version copy, runs and results.

The tables are written out as they were at this revision (not imported from
``adapters/tables.py``), so later revisions can change them.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from promptworks_eventkit.migrations import (
    create_command_side_tables,
    create_consumer_side_tables,
    drop_command_side_tables,
    drop_consumer_side_tables,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_command_side_tables()
    create_consumer_side_tables()
    op.create_table(
        "prompt_versions",
        sa.Column("version_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("prompt_id", UUID(as_uuid=True), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("label", sa.Text, nullable=True),
        sa.Column("template", JSONB, nullable=False),
        sa.Column("variables", JSONB, nullable=False),
        sa.Column("default_model", JSONB, nullable=True),
        sa.Column("default_parameters", JSONB, nullable=True),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("total_calls", sa.Integer, nullable=False),
        sa.Column("recorded", sa.Integer, nullable=False, server_default="0"),
        sa.Column("succeeded", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index(
        "ix_runs_unfinished",
        "runs",
        ["created_at"],
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    op.create_table(
        "run_results",
        sa.Column("run_id", UUID(as_uuid=True), nullable=False),
        sa.Column("case_index", sa.Integer, nullable=False),
        sa.Column("repetition", sa.Integer, nullable=False),
        sa.Column("result_id", UUID(as_uuid=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "case_index", "repetition"),
    )


def downgrade() -> None:
    for table in ("run_results", "runs", "prompt_versions"):
        op.drop_table(table)
    drop_consumer_side_tables()
    drop_command_side_tables()
