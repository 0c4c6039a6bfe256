"""Projects: the local copy of prompt versions and the runs keep their project.

Revision ID: 0005
Revises: 0004

Rows that exist belong to ``default``, as do the events they came from.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("prompt_versions", "runs")


def upgrade() -> None:
    # 0001 creates these tables from the live table objects: on a new database they already
    # have the column.
    for table in TABLES:
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS project_id text NOT NULL "
            "DEFAULT 'default'"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS project_id")
