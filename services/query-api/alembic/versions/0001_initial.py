"""Consumer checkpoints and the read models (prompts, versions, runs, results, metrics).

Revision ID: 0001
Revises:
"""

from alembic import op

from promptworks_eventkit.migrations import (
    create_consumer_side_tables,
    drop_consumer_side_tables,
)
from query_api.tables import READ_MODEL_TABLES

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Fuzzy prompt search (trigram GIN indexes); pg_trgm is a trusted extension since PG 13.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    create_consumer_side_tables()
    for table in READ_MODEL_TABLES:
        table.create(op.get_bind())


def downgrade() -> None:
    for table in reversed(READ_MODEL_TABLES):
        table.drop(op.get_bind())
    drop_consumer_side_tables()
