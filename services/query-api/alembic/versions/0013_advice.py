"""Optimisation advice on runs (``advice``) and where a prompt version came from
(``prompt_versions.origin``), ADR 0024. Both are new: no event to replay.

Revision ID: 0013
Revises: 0011
"""

from alembic import op

from query_api.tables import ADVICE_READ_MODEL_TABLES

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 made them on a new database (it creates every read-model table).
    for table in ADVICE_READ_MODEL_TABLES:
        table.create(op.get_bind(), checkfirst=True)
    op.execute("ALTER TABLE prompt_versions ADD COLUMN IF NOT EXISTS origin jsonb")


def downgrade() -> None:
    # Kept: 0001 creates both on a new database (it creates every read-model table as the code
    # has them), 0011's views in ``public`` depend on them, and the previous release ignores
    # an extra table and a nullable column of derived data.
    pass
