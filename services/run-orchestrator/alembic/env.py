from promptworks_eventkit.alembic_env import run_migrations
from run_orchestrator.adapters.tables import metadata

run_migrations(metadata)
