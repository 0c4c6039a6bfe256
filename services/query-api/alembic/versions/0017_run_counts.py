"""``run_counts``: each project's runs per partition of the run topic, kept by the projection so
the run list's total is not a count of every run. Filled from the runs already projected.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from query_api.tables import run_counts

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 made it on a new database (it creates every read-model table).
    if sa.inspect(op.get_bind()).has_table("run_counts"):
        return
    run_counts.create(op.get_bind())
    # The partition does not matter to a sum: existing runs count under partition 0.
    op.execute(
        "INSERT INTO run_counts (project_id, partition, runs) "
        "SELECT project_id, 0, count(*) FROM runs GROUP BY project_id"
    )


def downgrade() -> None:
    # Kept: 0001 creates it on a new database (every read-model table as the code has it), and
    # 0011's view in ``public`` depends on it there; the previous release ignores it (0013).
    pass
