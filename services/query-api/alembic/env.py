from promptworks_eventkit.alembic_env import run_migrations
from query_api.tables import metadata

run_migrations(metadata)
