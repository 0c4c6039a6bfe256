"""The metadata every read-model table belongs to, and index helpers they share."""

from __future__ import annotations

from sqlalchemy import Index, MetaData

metadata = MetaData()


def trigram_index(table_name: str, column: str) -> Index:
    """A GIN trigram index: serves ``%>`` (word similarity) and ``ILIKE '%x%'`` on ``column``."""
    return Index(
        f"ix_{table_name}_{column}_trgm",
        column,
        postgresql_using="gin",
        postgresql_ops={column: "gin_trgm_ops"},
    )
