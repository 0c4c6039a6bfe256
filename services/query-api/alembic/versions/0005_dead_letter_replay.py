"""Dead letters keep their record and their replay state (operator replay, ADR 0013).

Revision ID: 0005
Revises: 0004
"""

from promptworks_eventkit.migrations import (
    add_dead_letter_replay_columns,
    drop_dead_letter_replay_columns,
)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_dead_letter_replay_columns()


def downgrade() -> None:
    drop_dead_letter_replay_columns()
