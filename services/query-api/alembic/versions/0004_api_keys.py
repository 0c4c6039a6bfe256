"""API keys (issue 11): query-api's own table, kept out of the read models a rebuild wipes.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from query_api.tables.api_keys import api_keys

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    api_keys.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    api_keys.drop(op.get_bind(), checkfirst=True)
