"""Evaluation spread over replicas (ADR 0022): the runs consumer queues each recorded result
(``evaluation_queue``) and counts it on its run (``runs.recorded``); every replica's workers
take queued results. A run's end that arrives before its last result is evaluated waits on the
run row (``runs.ending``, ``runs.end_context``) for the worker that evaluates it.

Runs seen before this revision were evaluated in the consumer: what they recorded is what they
evaluated.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

from evaluator.adapters.tables import evaluation_queue

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE runs ADD COLUMN IF NOT EXISTS recorded integer NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE runs ADD COLUMN IF NOT EXISTS ending text")
    op.execute("ALTER TABLE runs ADD COLUMN IF NOT EXISTS end_context jsonb")
    op.execute("UPDATE runs SET recorded = evaluated")
    evaluation_queue.create(op.get_bind(), checkfirst=True)
    # The worker's sweep: runs whose end waits although nothing is left to evaluate.
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_runs_ending ON runs (run_id) "
        "WHERE ending IS NOT NULL AND status = 'running'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_runs_ending")
    evaluation_queue.drop(op.get_bind())
    op.execute("ALTER TABLE runs DROP COLUMN IF EXISTS end_context")
    op.execute("ALTER TABLE runs DROP COLUMN IF EXISTS ending")
    op.execute("ALTER TABLE runs DROP COLUMN IF EXISTS recorded")
