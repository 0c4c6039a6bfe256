"""Classes and tags by id: prompt names unique per class_id, class, tag and prompt-tag lookups.

Revision ID: 0002
Revises: 0001

The tables are spelled out here (not imported from ``prompt_service.tables``) so that this
migration keeps creating the same schema whatever the code looks like later.

``prompt_names`` is rebuilt rather than altered: 0001 created it from the live table object,
so its shape depends on when 0001 ran. Rows keep their prompt id and name; their class becomes
none, because prompts created before this revision name their class by a ``class_name`` the
current events no longer carry. (Two such prompts with one name in different classes would now
clash: the unique index below then stops the upgrade, naming the name, for a person to rename.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TEMPORARY TABLE prompt_names_0001 AS SELECT prompt_id::text, name FROM prompt_names"
    )
    op.drop_table("prompt_names")
    op.create_table(
        "prompt_names",
        sa.Column("prompt_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("class_id", UUID(as_uuid=True), nullable=True),
        sa.Column("name", sa.Text, nullable=False),
    )
    op.create_index("uq_prompt_names_class_name", "prompt_names", ["class_id", "name"], unique=True)
    op.create_index(
        "uq_prompt_names_classless_name",
        "prompt_names",
        ["name"],
        unique=True,
        postgresql_where=sa.text("class_id IS NULL"),
    )
    op.execute(
        "INSERT INTO prompt_names (prompt_id, class_id, name) "
        "SELECT prompt_id::uuid, NULL, name FROM prompt_names_0001"
    )
    op.execute("DROP TABLE prompt_names_0001")
    op.create_table(
        "classes",
        sa.Column("class_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.UniqueConstraint("name", name="uq_classes_name"),
    )
    op.create_table(
        "tags",
        sa.Column("tag_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("color", sa.Text, nullable=False),
        sa.UniqueConstraint("name", name="uq_tags_name"),
    )
    op.create_table(
        "prompt_tags",
        sa.Column(
            "prompt_id",
            UUID(as_uuid=True),
            sa.ForeignKey("prompt_names.prompt_id"),
            primary_key=True,
        ),
        sa.Column("tag_id", UUID(as_uuid=True), sa.ForeignKey("tags.tag_id"), primary_key=True),
    )
    op.create_index("ix_prompt_tags_tag_id", "prompt_tags", ["tag_id"])


def downgrade() -> None:
    op.drop_table("prompt_tags")
    op.drop_table("tags")
    op.drop_table("classes")
    op.execute(
        "CREATE TEMPORARY TABLE prompt_names_0002 AS SELECT prompt_id, name FROM prompt_names"
    )
    op.drop_table("prompt_names")
    op.create_table(
        "prompt_names",
        sa.Column("prompt_id", sa.Text, primary_key=True),
        sa.Column("class_name", sa.Text, nullable=False, server_default=""),
        sa.Column("name", sa.Text, nullable=False),
        sa.UniqueConstraint("class_name", "name", name="uq_prompt_names_class_name"),
    )
    op.execute(
        "INSERT INTO prompt_names (prompt_id, name) "
        "SELECT prompt_id::text, name FROM prompt_names_0002"
    )
    op.execute("DROP TABLE prompt_names_0002")
