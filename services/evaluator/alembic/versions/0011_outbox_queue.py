"""The outbox becomes a queue of positions; each event's payload is stored once, in
``events.data`` (json), and deleted from the queue when published (ADR 0028). Unpublished rows
are carried over both ways.

Revision ID: 0011
Revises: 0010
"""

from promptworks_eventkit.migrations import adopt_outbox_queue, restore_outbox_table

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    adopt_outbox_queue()


def downgrade() -> None:
    restore_outbox_table()
