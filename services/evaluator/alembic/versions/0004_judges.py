"""LLM judges: the sum of squares of every metric (standard deviation and the mean's interval)
and what each result's judge calls cost.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# 0001/0002 create their tables from the current definitions, which have the columns already.
COLUMNS = (
    ("run_metric_stats", "sum_squares", "DOUBLE PRECISION NOT NULL DEFAULT 0"),
    ("result_outcomes", "judge_cost_amount", "NUMERIC"),
    ("result_outcomes", "judge_cost_currency", "TEXT"),
    ("result_outcomes", "judge_prompt_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("result_outcomes", "judge_completion_tokens", "INTEGER NOT NULL DEFAULT 0"),
)


def upgrade() -> None:
    for table, column, kind in COLUMNS:
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")


def downgrade() -> None:
    for table, column, _ in reversed(COLUMNS):
        op.drop_column(table, column)
