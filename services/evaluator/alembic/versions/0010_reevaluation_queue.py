"""Re-evaluation spread over replicas (ADR 0022, addendum): a re-evaluation's kept results are
queued in ``evaluation_queue`` (``evaluation_id``; no Kafka origin, so those columns may be
null; a result is unique per evaluation), and its ``evaluations`` row counts them (``queued``,
``evaluated``, ``failed``) and keeps its request's context for the events it causes.

Re-evaluations requested before this revision are still ``requested``: they are queued like new
ones. Those already evaluated keep their status and counters of 0 (nothing reads them).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE evaluation_queue ADD COLUMN IF NOT EXISTS evaluation_id text")
    for column in ("event_id", "partition", '"offset"', "stream_version"):
        op.execute(f"ALTER TABLE evaluation_queue ALTER COLUMN {column} DROP NOT NULL")
    op.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_evaluation_queue_result "
        "ON evaluation_queue (run_id, result_id, (coalesce(evaluation_id, '')))"
    )
    op.execute(
        "ALTER TABLE evaluation_queue DROP CONSTRAINT IF EXISTS "
        "evaluation_queue_run_id_result_id_key"
    )
    for column in ("queued", "evaluated", "failed"):
        op.execute(
            f"ALTER TABLE evaluations ADD COLUMN IF NOT EXISTS {column} integer NOT NULL DEFAULT 0"
        )
    op.execute("ALTER TABLE evaluations ADD COLUMN IF NOT EXISTS request_context jsonb")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_evaluations_queued ON evaluations (evaluation_id) "
        "WHERE status = 'queued'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_evaluations_queued")
    op.execute("ALTER TABLE evaluations DROP COLUMN IF EXISTS request_context")
    for column in ("failed", "evaluated", "queued"):
        op.execute(f"ALTER TABLE evaluations DROP COLUMN IF EXISTS {column}")
    op.execute("DELETE FROM evaluation_queue WHERE evaluation_id IS NOT NULL")
    op.execute("DROP INDEX IF EXISTS ux_evaluation_queue_result")
    op.execute(
        "ALTER TABLE evaluation_queue ADD CONSTRAINT evaluation_queue_run_id_result_id_key "
        "UNIQUE (run_id, result_id)"
    )
    for column in ("event_id", "partition", '"offset"', "stream_version"):
        op.execute(f"ALTER TABLE evaluation_queue ALTER COLUMN {column} SET NOT NULL")
    op.execute("ALTER TABLE evaluation_queue DROP COLUMN IF EXISTS evaluation_id")
