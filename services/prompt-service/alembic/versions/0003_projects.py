"""Projects: every prompt, class and tag row belongs to one; names are unique per project.

Revision ID: 0003
Revises: 0002

Existing rows belong to the ``default`` project (as do the events recorded before projects).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("prompt_names", "classes", "tags")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table,
            sa.Column("project_id", sa.Text, nullable=False, server_default="default"),
        )
    op.drop_index("uq_prompt_names_classless_name", table_name="prompt_names")
    op.create_index(
        "uq_prompt_names_classless_name",
        "prompt_names",
        ["project_id", "name"],
        unique=True,
        postgresql_where=sa.text("class_id IS NULL"),
    )
    for table in ("classes", "tags"):
        op.drop_constraint(f"uq_{table}_name", table, type_="unique")
        op.create_unique_constraint(f"uq_{table}_name", table, ["project_id", "name"])


def downgrade() -> None:
    for table in ("classes", "tags"):
        op.drop_constraint(f"uq_{table}_name", table, type_="unique")
        op.create_unique_constraint(f"uq_{table}_name", table, ["name"])
    op.drop_index("uq_prompt_names_classless_name", table_name="prompt_names")
    op.create_index(
        "uq_prompt_names_classless_name",
        "prompt_names",
        ["name"],
        unique=True,
        postgresql_where=sa.text("class_id IS NULL"),
    )
    for table in TABLES:
        op.drop_column(table, "project_id")
