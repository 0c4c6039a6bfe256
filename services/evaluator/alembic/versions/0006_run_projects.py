"""A run's project, so that its judges call that project's providers (ADR 0017). Runs seen
before projects were all in ``default``.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE runs ADD COLUMN IF NOT EXISTS project_id text NOT NULL DEFAULT 'default'"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE runs DROP COLUMN IF EXISTS project_id")
