"""Each result's public JSON stored in the read model (``results.document``), with the columns
its filters read (``ok``, ``failed_checks``) and their indexes, an index on the results' time
for the usage reads, and the positions of the results of finished runs (ADR 0019); and each
run's free ``metadata`` (issue 12).

Existing results are rendered here, in chunks, from the rows already in the read model (the
same renderer the projection uses), so reads keep working across the upgrade without a replay.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from query_api.projections.result_documents import backfill
from query_api.tables import result_positions

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = {
    "document": "text",
    "ok": "boolean",
    "failed_checks": "text[] NOT NULL DEFAULT '{}'",
}
INDEXES = {
    "ix_results_run_ok": "results (run_id, ok, case_index, repetition, result_id)",
    "ix_results_failed_checks": "results USING gin (failed_checks)",
    "ix_results_output_trgm": "results USING gin (output gin_trgm_ops)",
    "ix_results_created_at": "results (created_at)",
}


NUMBER_FINISHED_RUNS = """
    INSERT INTO result_positions (run_id, position, result_id)
    SELECT results.run_id,
           row_number() OVER (PARTITION BY results.run_id
                              ORDER BY case_index, repetition, result_id) - 1,
           result_id
    FROM results JOIN runs ON runs.run_id = results.run_id
    WHERE runs.status IN ('completed', 'failed', 'cancelled')
    ON CONFLICT DO NOTHING
"""


def upgrade() -> None:
    # The run's free metadata (the original frontend's `schema`); runs created before have none.
    op.execute("ALTER TABLE runs ADD COLUMN IF NOT EXISTS metadata jsonb")
    for column, kind in COLUMNS.items():  # 0001 already made them on a new database
        op.execute(f"ALTER TABLE results ADD COLUMN IF NOT EXISTS {column} {kind}")
    backfill(op.get_bind())
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")
    result_positions.create(op.get_bind(), checkfirst=True)  # 0001 made it on a new database
    op.execute(NUMBER_FINISHED_RUNS)


def downgrade() -> None:
    op.execute("ALTER TABLE runs DROP COLUMN IF EXISTS metadata")
    result_positions.drop(op.get_bind(), checkfirst=True)
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for column in COLUMNS:
        op.execute(f"ALTER TABLE results DROP COLUMN IF EXISTS {column}")
