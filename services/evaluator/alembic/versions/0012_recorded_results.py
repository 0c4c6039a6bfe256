"""Each run's count of results queued for evaluation moves from ``runs.recorded`` to a table of
its own, ``recorded_results``, which only the runs consumer adds to: it no longer waits for
the run's row, which the evaluation workers hold locked from their writes to their commit (ADR
0022's fifteenth-session addendum). The counts are carried over both ways.

``runs.recorded`` stays (zero after the move), and the new code adds it to the new count, so a
replica of the release before that still adds to it is counted. The release before reads only
that column, though: stop every evaluator replica for this upgrade (deploy/README.md, "Upgrade
and migration order").

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recorded_results",
        sa.Column("run_id", sa.Text(), primary_key=True),
        sa.Column("recorded", sa.Integer(), nullable=False),
    )
    op.execute(
        "INSERT INTO recorded_results (run_id, recorded) "
        "SELECT run_id, recorded FROM runs WHERE recorded <> 0"
    )
    op.execute("UPDATE runs SET recorded = 0 WHERE recorded <> 0")


def downgrade() -> None:
    op.execute(
        "UPDATE runs SET recorded = runs.recorded + r.recorded "
        "FROM recorded_results r WHERE r.run_id = runs.run_id"
    )
    op.drop_table("recorded_results")
