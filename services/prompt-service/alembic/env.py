from prompt_service.adapters.tables import metadata
from promptworks_eventkit.alembic_env import run_migrations

run_migrations(metadata)
