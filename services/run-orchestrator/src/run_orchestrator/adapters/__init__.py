"""Persistence: the tables (also used by Alembic), the repositories on PostgreSQL and in
memory, and the per-run advisory locks."""
