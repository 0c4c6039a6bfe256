"""Evaluator definitions (a unique name per evaluator, each version's assertions) and what
re-evaluation needs (every recorded result, one row per re-evaluation); judgements kept so
that a rolled-back batch does not pay for its judge calls twice.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from evaluator.adapters.tables import (
    evaluations,
    evaluator_definitions,
    evaluator_versions,
    kept_judgements,
    result_records,
)

TABLES = (evaluator_definitions, evaluator_versions, result_records, evaluations, kept_judgements)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in TABLES:
        table.create(op.get_bind(), checkfirst=True)
    # Databases that ran this revision before definitions took their project (ADR 0017):
    # names become unique per project.
    op.execute(
        "ALTER TABLE evaluator_definitions ADD COLUMN IF NOT EXISTS project_id TEXT NOT NULL "
        "DEFAULT 'default'"
    )
    op.execute(
        "ALTER TABLE evaluator_definitions DROP CONSTRAINT IF EXISTS evaluator_definitions_name_key"
    )
    op.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_evaluator_definitions_project_name "
        "ON evaluator_definitions (project_id, name)"
    )


def downgrade() -> None:
    for table in reversed(TABLES):
        table.drop(op.get_bind())
