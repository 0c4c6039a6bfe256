"""Event store, outbox and the prompt-name claims.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from promptworks_eventkit.migrations import create_command_side_tables, drop_command_side_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_command_side_tables()
    # Spelled out, not taken from tables.py: a migration must not change when the code does.
    op.create_table(
        "prompt_names",
        sa.Column("prompt_id", sa.Text, primary_key=True),
        sa.Column("class_name", sa.Text, nullable=False, server_default=""),
        sa.Column("name", sa.Text, nullable=False),
        sa.UniqueConstraint("class_name", "name", name="uq_prompt_names_class_name"),
    )


def downgrade() -> None:
    op.drop_table("prompt_names")
    drop_command_side_tables()
