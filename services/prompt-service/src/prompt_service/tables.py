"""prompt-service's own tables besides the shared event store and outbox."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, Table, Text, UniqueConstraint

metadata = MetaData()

# Set validation for an event-sourced write model: a prompt's name is unique within its class.
# Written in the same transaction as the prompt's events, so it can never disagree with them.
prompt_names = Table(
    "prompt_names",
    metadata,
    Column("prompt_id", Text, primary_key=True),
    Column("class_name", Text, nullable=False, server_default=""),
    Column("name", Text, nullable=False),
    UniqueConstraint("class_name", "name", name="uq_prompt_names_class_name"),
)
