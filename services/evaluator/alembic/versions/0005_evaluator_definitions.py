"""Evaluator definitions: a unique name per evaluator and each version's assertions.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from evaluator.adapters.tables import evaluator_definitions, evaluator_versions

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    evaluator_definitions.create(op.get_bind())
    evaluator_versions.create(op.get_bind())


def downgrade() -> None:
    evaluator_versions.drop(op.get_bind())
    evaluator_definitions.drop(op.get_bind())
