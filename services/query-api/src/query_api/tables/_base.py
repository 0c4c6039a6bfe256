"""The metadata every read-model table belongs to, and index helpers they share."""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, Text

from promptworks_contracts.projects import DEFAULT_PROJECT

metadata = MetaData()


def trigram_index(table_name: str, column: str) -> Index:
    """A GIN trigram index: serves ``%>`` (word similarity) and ``ILIKE '%x%'`` on ``column``."""
    return Index(
        f"ix_{table_name}_{column}_trgm",
        column,
        postgresql_using="gin",
        postgresql_ops={column: "gin_trgm_ops"},
    )


def project_column() -> Column[str]:
    """The project (tenant) a row belongs to, from its aggregate's events; every query filters
    on it, and the indexes lists use start with it."""
    return Column("project_id", Text, nullable=False, server_default=DEFAULT_PROJECT)
