"""Event store and outbox (the evaluation stream), consumer tables, runs and their statistics.

Revision ID: 0001
Revises:
"""

from alembic import op

from evaluator.adapters.tables import run_metric_stats, runs
from promptworks_eventkit.migrations import (
    create_command_side_tables,
    create_consumer_side_tables,
    drop_command_side_tables,
    drop_consumer_side_tables,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_command_side_tables()
    create_consumer_side_tables()
    runs.create(op.get_bind())
    run_metric_stats.create(op.get_bind())


def downgrade() -> None:
    run_metric_stats.drop(op.get_bind())
    runs.drop(op.get_bind())
    drop_consumer_side_tables()
    drop_command_side_tables()
