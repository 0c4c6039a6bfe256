"""Evaluator definitions and their versions, runs' evaluator pins and every evaluation of a
run (re-evaluations' metrics and verdicts) in the read model.

Read models are derived data: the evaluation topic is replayed (its checkpoints deleted) so
evaluators defined before this revision are projected too.

Revision ID: 0009
Revises: 0008
"""

from alembic import op
from sqlalchemy import delete

from promptworks_contracts.topics import EVALUATION_EVENTS
from promptworks_eventkit.tables import consumer_offsets, consumer_stream_positions
from query_api.projections import CONSUMER_NAME
from query_api.tables import EVALUATOR_READ_MODEL_TABLES

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _replay_evaluations() -> None:
    for checkpoints in (consumer_offsets, consumer_stream_positions):
        op.execute(
            delete(checkpoints).where(
                checkpoints.c.consumer == CONSUMER_NAME,
                checkpoints.c.topic == EVALUATION_EVENTS,
            )
        )


def upgrade() -> None:
    # 0001 made them on a new database (it creates every read-model table).
    for table in EVALUATOR_READ_MODEL_TABLES:
        table.create(op.get_bind(), checkfirst=True)
    # Databases that ran this revision before evaluators took their project (ADR 0017).
    op.execute(
        "ALTER TABLE evaluators ADD COLUMN IF NOT EXISTS project_id TEXT NOT NULL DEFAULT 'default'"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_evaluators_project_name ON evaluators (project_id, name)"
    )
    # Runs pinned to an evaluator version (runs before this revision named none).
    for column, kind in (("evaluator_id", "UUID"), ("evaluator_version", "INTEGER")):
        op.execute(f"ALTER TABLE runs ADD COLUMN IF NOT EXISTS {column} {kind}")
    _replay_evaluations()


def downgrade() -> None:
    op.drop_column("runs", "evaluator_version")
    op.drop_column("runs", "evaluator_id")
    for table in reversed(EVALUATOR_READ_MODEL_TABLES):
        table.drop(op.get_bind())
    _replay_evaluations()
