"""``results`` without its trigram index on ``output`` (ADR 0019's addendum, 2026-11-30).

The index cost every projected result ~50 GIN entries (one per trigram of its output, more for
a longer output) for the results filter ``q``, a search that is always within one run: the run's
own rows (``ix_results_run_case_repetition``) serve it, and a term that most results contain
was slower through the index than through them.

Revision ID: 0022
Revises: 0021
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_results_output_trgm")


def downgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_results_output_trgm ON results USING gin (output gin_trgm_ops)"
    )
