"""Event store and outbox, consumer checkpoints, the prompt-version copy, runs and results.

Revision ID: 0001
Revises:
"""

from alembic import op

from promptworks_eventkit.migrations import (
    create_command_side_tables,
    create_consumer_side_tables,
    drop_command_side_tables,
    drop_consumer_side_tables,
)
from run_orchestrator.adapters.tables import OWN_TABLES

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_command_side_tables()
    create_consumer_side_tables()
    for table in OWN_TABLES:
        table.create(op.get_bind())


def downgrade() -> None:
    for table in reversed(OWN_TABLES):
        table.drop(op.get_bind())
    drop_consumer_side_tables()
    drop_command_side_tables()
