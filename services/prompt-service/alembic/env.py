from promptworks_eventkit.alembic_env import run_migrations

from prompt_service.tables import metadata

run_migrations(metadata)
