"""The outbox becomes a queue of positions; each event's payload is stored once, in
``events.data`` (json), and deleted from the queue when published (ADR 0028). Unpublished rows
are carried over both ways.

Revision ID: 0008
Revises: 0007
"""

from promptworks_eventkit.migrations import adopt_outbox_queue, restore_outbox_table

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    adopt_outbox_queue()


def downgrade() -> None:
    restore_outbox_table()
