"""Advice pinned to one evaluation of its run (``advice.evaluation_id``); rows from before it
are grounded in the latest evaluation, as they were.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE advice ADD COLUMN IF NOT EXISTS evaluation_id text")


def downgrade() -> None:
    op.execute("ALTER TABLE advice DROP COLUMN IF EXISTS evaluation_id")
