"""Runs cost money, name labels, can be cancelled and retried, and come in batches (issue 7):
cost columns on runs and results, ``retry_of``, ``queued`` and ``cancelled`` statuses
(``pending`` is gone), a batch index, the ``batches`` table.

Read models are derived data: the run read models are emptied and this consumer's
checkpoints of the run and evaluation topics deleted, so the projection replays both topics
into the new shape on its next start (prompt read models are left as they are).

Revision ID: 0003
Revises: 0002
"""

from alembic import op
from sqlalchemy import delete

from promptworks_contracts.topics import EVALUATION_EVENTS, RUN_EVENTS
from promptworks_eventkit.tables import consumer_offsets, consumer_stream_positions
from query_api.projections import CONSUMER_NAME
from query_api.tables import batches

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RUN_COLUMNS = {
    "label": "text",
    "currency": "text",
    "cost": "numeric(36, 12)",
    "estimated_cost": "numeric(36, 12)",
    "budget": "numeric(36, 12)",
    "cancelled_by": "text",
    "retry_of": "uuid",
}


# The run read models as they were at this revision (later ones, e.g. 0004's result_verdicts,
# do not exist yet when this runs, or no longer when it is undone).
RUN_TABLES = ("runs", "run_evaluations", "results", "metrics", "batches")


def _replay_run_topics() -> None:
    batches.create(op.get_bind(), checkfirst=True)  # 0001 already made it on a new database
    for table in RUN_TABLES:
        op.execute(f"TRUNCATE {table}")
    for checkpoints in (consumer_offsets, consumer_stream_positions):
        op.execute(
            delete(checkpoints).where(
                checkpoints.c.consumer == CONSUMER_NAME,
                checkpoints.c.topic.in_([RUN_EVENTS, EVALUATION_EVENTS]),
            )
        )


def upgrade() -> None:
    _replay_run_topics()
    op.execute("ALTER TABLE runs DROP CONSTRAINT ck_runs_status")
    op.execute(
        "ALTER TABLE runs ADD CONSTRAINT ck_runs_status "
        "CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled'))"
    )
    for column, kind in RUN_COLUMNS.items():
        op.execute(f"ALTER TABLE runs ADD COLUMN IF NOT EXISTS {column} {kind}")
    op.execute("ALTER TABLE results ADD COLUMN IF NOT EXISTS cost numeric(36, 12)")
    op.execute("ALTER TABLE results ADD COLUMN IF NOT EXISTS cached boolean NOT NULL DEFAULT false")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_runs_batch_created_at ON runs (batch_id, created_at DESC)"
    )


def downgrade() -> None:
    _replay_run_topics()
    batches.drop(op.get_bind())
    op.execute("DROP INDEX IF EXISTS ix_runs_batch_created_at")
    op.execute("ALTER TABLE results DROP COLUMN IF EXISTS cost")
    op.execute("ALTER TABLE results DROP COLUMN IF EXISTS cached")
    for column in RUN_COLUMNS:
        op.execute(f"ALTER TABLE runs DROP COLUMN IF EXISTS {column}")
    op.execute("ALTER TABLE runs DROP CONSTRAINT ck_runs_status")
    op.execute(
        "ALTER TABLE runs ADD CONSTRAINT ck_runs_status "
        "CHECK (status IN ('pending', 'running', 'completed', 'failed'))"
    )
