"""Optimisation advice (ADR 0024): what a run asked its model (``runs.subject``: prompt,
template, model, parameters; null for runs seen before), and one row per advice asked for,
which is also the advice worker's queue (``requested`` until given or failed).

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE runs ADD COLUMN IF NOT EXISTS subject jsonb")
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS advice (
            advice_id text PRIMARY KEY,
            run_id text NOT NULL,
            project_id text NOT NULL DEFAULT 'default',
            provider text NOT NULL,
            model text NOT NULL,
            focus text,
            max_attempts integer NOT NULL,
            status text NOT NULL DEFAULT 'requested',
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_advice_requested ON advice (created_at) "
        "WHERE status = 'requested'"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS advice")
    op.execute("ALTER TABLE runs DROP COLUMN IF EXISTS subject")
