"""prompt-service's own tables besides the shared event store and outbox.

Set validation for an event-sourced write model: rules across aggregates (a prompt's name is
unique within its class, class and tag names are unique, a class or tag in use cannot vanish)
need indexes the event streams do not have. These rows are written in the SAME transaction as
the events they mirror, so they can never disagree with the streams. How concurrent commands
lock them is explained in ``adapters.postgres``; what they answer, in ``handlers.ports``.

Invariants:
- Every row belongs to a project (``project_id``, the tenant); names are unique per project,
  and the repositories only ever see the rows of the command's project, so an id of another
  project is "not found" and never a reference.
- ``prompt_names``: one row per prompt (archived ones included: a restore must not clash);
  ``(class_id, name)`` unique (a class lives in one project), and ``(project_id, name)``
  unique among prompts without a class.
- ``classes`` / ``tags``: one row per live class / tag, ``(project_id, name)`` unique; deleting
  it removes the row (its name is free again), its stream keeps the history.
- ``prompt_tags``: exactly the prompt's current ``tag_ids``.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, MetaData, Table, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import UUID

from promptworks_contracts.projects import DEFAULT_PROJECT


def project_column() -> Column[str]:
    return Column("project_id", Text, nullable=False, server_default=DEFAULT_PROJECT)


metadata = MetaData()

# Migration 0001 creates this table from this very object, so it must not refer to tables that
# 0001 does not create (no foreign key to ``classes``: the locks in ``adapters.postgres`` keep
# it right); 0002 rebuilds it in this shape from a definition of its own.
prompt_names = Table(
    "prompt_names",
    metadata,
    Column("prompt_id", UUID(as_uuid=True), primary_key=True),
    Column("class_id", UUID(as_uuid=True), nullable=True),
    Column("name", Text, nullable=False),
    project_column(),
    Index("uq_prompt_names_class_name", "class_id", "name", unique=True),
    Index(
        "uq_prompt_names_classless_name",
        "project_id",
        "name",
        unique=True,
        postgresql_where=text("class_id IS NULL"),
    ),
)

classes = Table(
    "classes",
    metadata,
    Column("class_id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    project_column(),
    UniqueConstraint("project_id", "name", name="uq_classes_name"),
)

tags = Table(
    "tags",
    metadata,
    Column("tag_id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("color", Text, nullable=False),
    project_column(),
    UniqueConstraint("project_id", "name", name="uq_tags_name"),
)

prompt_tags = Table(
    "prompt_tags",
    metadata,
    Column("prompt_id", UUID(as_uuid=True), ForeignKey(prompt_names.c.prompt_id), primary_key=True),
    Column("tag_id", UUID(as_uuid=True), ForeignKey(tags.c.tag_id), primary_key=True),
    Index("ix_prompt_tags_tag_id", "tag_id"),
)
