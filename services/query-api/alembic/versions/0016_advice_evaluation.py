"""Advice shows the evaluation it is grounded in (``advice.evaluation_id``); rows from before
have none (replaying their events gives none either).

Revision ID: 0016
Revises: 0013
"""

from alembic import op

revision = "0016"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE advice ADD COLUMN IF NOT EXISTS evaluation_id uuid")


def downgrade() -> None:
    # Kept: a nullable column of derived data the previous release ignores (0013's reasoning).
    pass
