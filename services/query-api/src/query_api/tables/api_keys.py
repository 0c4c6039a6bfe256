"""``api_keys``: query-api's own state, NOT a read model.

Keys are not derived from events, so a rebuild must never touch them: this table is not in
``READ_MODEL_TABLES`` (what a rebuild wipes). Only a digest of each secret is kept (``auth.keys``).
"""

from __future__ import annotations

from sqlalchemy import ARRAY, Boolean, Column, DateTime, LargeBinary, Table, Text, false, text
from sqlalchemy.dialects.postgresql import UUID

from query_api.tables._base import metadata

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    Column("secret_digest", LargeBinary, nullable=False, unique=True),
    Column("scopes", ARRAY(Text), nullable=False),
    Column(
        "projects",
        ARRAY(Text),
        nullable=False,
        server_default=text("ARRAY['default']"),
        comment="The projects it reaches, the first being its default (admin keys: all)",
    ),
    Column("may_set_actor", Boolean, nullable=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_by", Text),
)
