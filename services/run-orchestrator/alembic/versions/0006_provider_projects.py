"""Projects: each project has its own provider catalog (names unique per project).

Revision ID: 0006
Revises: 0005

Providers registered before projects belong to ``default``, as do their events
(``ProviderRegistered`` without ``project_id``).
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE provider_catalog ADD COLUMN IF NOT EXISTS project_id text NOT NULL "
        "DEFAULT 'default'"
    )
    op.execute("ALTER TABLE provider_catalog DROP CONSTRAINT IF EXISTS provider_catalog_name_key")
    op.create_unique_constraint(
        "uq_provider_catalog_project_name", "provider_catalog", ["project_id", "name"]
    )


def downgrade() -> None:
    # Fails (as it should) when two projects hold the same name.
    op.drop_constraint("uq_provider_catalog_project_name", "provider_catalog")
    op.create_unique_constraint("provider_catalog_name_key", "provider_catalog", ["name"])
    op.execute("ALTER TABLE provider_catalog DROP COLUMN project_id")
