"""The shared rate-limit schedules (one row per provider and model).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from run_orchestrator.adapters.tables import rate_limit_schedules

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rate_limit_schedules.create(op.get_bind())


def downgrade() -> None:
    rate_limit_schedules.drop(op.get_bind())
