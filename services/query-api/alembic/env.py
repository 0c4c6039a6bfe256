from promptworks_eventkit.alembic_env import run_migrations
from query_api.read_schema import LIVE, search_path
from query_api.tables import metadata

# Read-model tables a migration creates land in the read-model schema (ADR 0023); query-api's
# own state is created in public by naming it (``schema="public"``).
run_migrations(metadata, search_path=search_path(LIVE))
