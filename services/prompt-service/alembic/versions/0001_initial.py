"""Event store, outbox and the prompt-name claims.

Revision ID: 0001
Revises:
"""

from alembic import op

from prompt_service.tables import prompt_names
from promptworks_eventkit.migrations import create_command_side_tables, drop_command_side_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_command_side_tables()
    prompt_names.create(op.get_bind())


def downgrade() -> None:
    prompt_names.drop(op.get_bind())
    drop_command_side_tables()
