"""Expected outputs of a run and the outcome of every evaluated result (run statistics).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from evaluator.adapters.tables import result_outcomes

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 creates ``runs`` from the current table definition, which has the column already.
    op.execute(
        "ALTER TABLE runs ADD COLUMN IF NOT EXISTS expected JSONB NOT NULL DEFAULT '[]'::jsonb"
    )
    result_outcomes.create(op.get_bind())


def downgrade() -> None:
    result_outcomes.drop(op.get_bind())
    op.drop_column("runs", "expected")
