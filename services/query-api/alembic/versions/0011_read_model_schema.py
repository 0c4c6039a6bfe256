"""The read models move to a schema of their own, ``read_models``, with the projection's
checkpoints (``consumer_offsets``, ``consumer_stream_positions``): what ``query-api rebuild``
builds anew beside them and switches to by renaming schemas (ADR 0023). query-api's own state
(``api_keys``, ``projects``, ``dead_letters``, ``alembic_version``) stays in ``public``.

The tables moved are ``READ_MODEL_TABLES`` as the code has them when this runs, so a read model
added by an earlier migration moves too. The database's default ``search_path`` becomes
``read_models, public`` (when the migrating role owns the database), so tools connecting
without query-api's settings (psql, reports) keep finding the tables; query-api sets it on
every connection itself.

Compatible with the previous release (rolling upgrades): its pods' pooled connections keep the
search path they opened with (``public``), so each moved table gets a view of the same name in
``public`` (simple views are updatable, ``INSERT ... ON CONFLICT`` included), through which
those pods read and project until they are replaced. Nothing of this release uses the views
(``read_models`` comes first in its search path); a later release's migration drops them.

Revision ID: 0011
Revises: 0009
"""

from alembic import op
from sqlalchemy import text

from promptworks_eventkit.tables import consumer_offsets, consumer_stream_positions
from query_api.read_schema import LIVE, NEXT, OWN, PREVIOUS, search_path
from query_api.tables import READ_MODEL_TABLES

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None

MOVED = (*READ_MODEL_TABLES, consumer_offsets, consumer_stream_positions)


def _default_search_path(value: str | None) -> None:
    setting = f"SET search_path = {value}" if value else "RESET search_path"
    op.execute(
        f"""
        DO $$ BEGIN
          IF pg_has_role(current_user, (SELECT datdba FROM pg_database
                                        WHERE datname = current_database()), 'MEMBER') THEN
            EXECUTE format('ALTER DATABASE %I {setting}', current_database());
          END IF;
        END $$
        """
    )


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {LIVE}")
    for table in MOVED:
        # The code may know read models a later migration creates (``advice``, 0013): a
        # database the previous release migrated has no such table yet, so neither a move
        # nor a view (the later migration creates it in ``read_models``).
        op.execute(
            f"""
            DO $$ BEGIN
              IF to_regclass('{OWN}.{table.name}') IS NOT NULL THEN
                ALTER TABLE {OWN}.{table.name} SET SCHEMA {LIVE};
                CREATE VIEW {OWN}.{table.name} AS SELECT * FROM {LIVE}.{table.name};
              END IF;
            END $$
            """
        )
    _default_search_path(search_path(LIVE))


def downgrade() -> None:
    for table in MOVED:
        op.execute(f"DROP VIEW IF EXISTS {OWN}.{table.name}")
    bind = op.get_bind()
    names = bind.execute(
        text("SELECT tablename FROM pg_tables WHERE schemaname = :schema ORDER BY 1"),
        {"schema": LIVE},
    ).scalars()
    for name in list(names):
        op.execute(f"ALTER TABLE {LIVE}.{name} SET SCHEMA {OWN}")
    for schema in (NEXT, PREVIOUS):
        op.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")  # derived data only
    op.execute(f"DROP SCHEMA {LIVE}")
    _default_search_path(None)
