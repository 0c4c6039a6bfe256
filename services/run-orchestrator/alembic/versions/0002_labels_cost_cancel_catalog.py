"""Runs name a label, cost money, can be cancelled and retried: the label copy, cost and
cancel columns, which results failed, ``pending`` renamed ``queued``; the provider catalog;
the response cache.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompt_labels",
        sa.Column("prompt_id", UUID(as_uuid=True), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("version_id", UUID(as_uuid=True), nullable=False),
        sa.PrimaryKeyConstraint("prompt_id", "label"),
    )
    op.create_table(
        "provider_catalog",
        sa.Column("provider_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("secret", sa.LargeBinary, nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "response_cache",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("output", sa.Text, nullable=False),
        sa.Column("usage", JSONB, nullable=False),
        sa.Column("finish_reason", sa.Text, nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.add_column("runs", sa.Column("cost", sa.Numeric(36, 12), nullable=True))
    op.add_column(
        "run_results",
        sa.Column("failed", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("runs", sa.Column("cancel_requested_by", sa.Text, nullable=True))
    op.execute("UPDATE runs SET status = 'queued' WHERE status = 'pending'")
    op.drop_index("ix_runs_unfinished", table_name="runs")
    op.create_index(
        "ix_runs_unfinished",
        "runs",
        ["created_at"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    # Label moves that arrived before this revision were not copied: read the prompt topic
    # again from the start (versions already copied are kept; labels are set in order).
    for table in ("consumer_offsets", "consumer_stream_positions"):
        op.execute(f"DELETE FROM {table} WHERE consumer = 'run-orchestrator.prompt-versions'")


def downgrade() -> None:
    op.drop_index("ix_runs_unfinished", table_name="runs")
    op.execute("UPDATE runs SET status = 'pending' WHERE status = 'queued'")
    op.create_index(
        "ix_runs_unfinished",
        "runs",
        ["created_at"],
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    op.drop_column("run_results", "failed")
    op.drop_column("runs", "cancel_requested_by")
    op.drop_column("runs", "cost")
    op.drop_table("prompt_labels")
    op.drop_table("provider_catalog")
    op.drop_table("response_cache")
