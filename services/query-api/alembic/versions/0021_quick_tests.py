"""``quick_tests``: the quick-test history and its usage (``promptworks.quick_test.completed.v1``).

Earlier releases did not project these events. The table starts empty on an existing database;
``query-api rebuild`` (ADR 0023, without downtime) replays the topics and fills in the quick
tests made before the upgrade. New ones are projected as they come.

Revision ID: 0021
Revises: 0020
"""

from alembic import op

from query_api.tables import QUICK_TEST_READ_MODEL_TABLES

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 made it on a new database (it creates every read-model table).
    for table in QUICK_TEST_READ_MODEL_TABLES:
        table.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    # Kept, as 0013 keeps ``advice``: 0001 creates it on a new database, and the previous
    # release ignores an extra table of derived data.
    pass
