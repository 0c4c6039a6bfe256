"""``projects``: query-api's own state, NOT a read model (like ``api_keys``).

A project is a tenant: every prompt, class, tag, run, batch, quick test and provider belongs to
one (the ``project_id`` of the read models, from the events). The list of projects is which
tenants exist and who may be granted them: configuration of the public API, not domain history
any other service needs, so it lives here and a rebuild leaves it alone. ``default`` is created
by the migration and always exists.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Table, Text

from query_api.tables._base import metadata

projects = Table(
    "projects",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", Text, nullable=False),
)
