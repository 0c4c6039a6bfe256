"""Dead letters keep their record and their replay state (operator replay, ADR 0013).

Revision ID: 0003
Revises: 0002
"""

from promptworks_eventkit.migrations import (
    add_dead_letter_replay_columns,
    drop_dead_letter_replay_columns,
)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_dead_letter_replay_columns()


def downgrade() -> None:
    drop_dead_letter_replay_columns()
