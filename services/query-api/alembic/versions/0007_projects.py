"""Projects (tenants): the ``projects`` table with ``default``, the projects each API key
reaches, and ``project_id`` on the read models, first in the indexes lists use.

Revision ID: 0007
Revises: 0006

Rows that exist belong to ``default``, as do the events they came from (an envelope without
the ``project`` attribute is in ``default``), so nothing needs a replay. Written to run on both
shapes: 0001 and 0002 create the read models (and 0004 ``api_keys``) from the live table
objects, so on a new database they already have these columns.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SCOPED = ("prompts", "prompt_classes", "prompt_tags", "prompt_counts", "runs", "batches")
# (name, table, columns as SQL, WHERE) before and after.
INDEXES_BEFORE = (
    ("ix_prompts_updated_at", "prompts", "updated_at, prompt_id", None),
    ("ix_prompts_created_at", "prompts", "created_at, prompt_id", None),
    ("ix_prompts_name", "prompts", "name, prompt_id", None),
    ("ix_prompts_active_updated_at", "prompts", "updated_at, prompt_id", "NOT archived"),
    ("ix_prompt_classes_lower_name", "prompt_classes", "lower(name)", None),
    ("ix_prompt_tags_lower_name", "prompt_tags", "lower(name)", None),
    ("ix_runs_created_at", "runs", "created_at DESC, run_id DESC", None),
    ("ix_runs_status_created_at", "runs", "status, created_at DESC", None),
    ("ix_batches_created_at", "batches", "created_at DESC, batch_id DESC", None),
)


def _create_indexes(with_project: bool) -> None:
    for name, table, columns, where in INDEXES_BEFORE:
        spelled = f"project_id, {columns}" if with_project else columns
        condition = f" WHERE {where}" if where else ""
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f"CREATE INDEX {name} ON {table} ({spelled}){condition}")


def upgrade() -> None:
    op.execute(
        "CREATE TABLE IF NOT EXISTS projects (id text PRIMARY KEY, name text NOT NULL, "
        "created_at timestamptz NOT NULL, created_by text NOT NULL)"
    )
    op.execute(
        "INSERT INTO projects (id, name, created_at, created_by) "
        "VALUES ('default', 'Default', now(), 'migration') ON CONFLICT DO NOTHING"
    )
    op.execute(
        "ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS projects text[] NOT NULL "
        "DEFAULT ARRAY['default']"
    )
    for table in SCOPED:
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS project_id text NOT NULL "
            "DEFAULT 'default'"
        )
    _create_indexes(with_project=True)
    op.drop_constraint("prompt_counts_pkey", "prompt_counts", type_="primary")
    op.create_primary_key("prompt_counts_pkey", "prompt_counts", ["project_id", "partition"])


def downgrade() -> None:
    # The counts of every project fold into their partition's row.
    op.execute(
        "CREATE TEMPORARY TABLE prompt_counts_0007 AS SELECT partition, sum(prompts) AS prompts, "
        "sum(active) AS active FROM prompt_counts GROUP BY partition"
    )
    op.execute("DELETE FROM prompt_counts")
    op.drop_constraint("prompt_counts_pkey", "prompt_counts", type_="primary")
    _create_indexes(with_project=False)
    for table in SCOPED:
        op.drop_column(table, "project_id")
    op.execute(
        "INSERT INTO prompt_counts (partition, prompts, active) "
        "SELECT partition, prompts, active FROM prompt_counts_0007"
    )
    op.execute("DROP TABLE prompt_counts_0007")
    op.create_primary_key("prompt_counts_pkey", "prompt_counts", ["partition"])
    op.drop_column("api_keys", "projects")
    op.drop_table("projects")
