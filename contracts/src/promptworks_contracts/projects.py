"""Projects (tenants): the one definition every service shares.

Every aggregate belongs to the project it was created in. The project travels two ways:
- on every event's envelope, as the CloudEvents extension attribute ``project`` (Kafka header
  ``ce_project``), so a consumer knows any event's project without folding its stream;
- in the payload of each aggregate's creation event, as ``project_id`` (``ProjectScoped``), so
  the aggregate's own history says where it lives.
Absent means ``default``: events recorded before projects existed replay unchanged into the
``default`` project.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, Field

DEFAULT_PROJECT: Final = "default"
PROJECT_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,62}$"
"""A project id is a slug: lower-case letters, digits and dashes, at most 63 characters."""
PROJECT_HEADER: Final = "X-Project"
"""The request header naming the project (public API; between services, from query-api only)."""


class ProjectScoped(BaseModel):
    """Mixin of an aggregate's creation event: the project it was created in. The write port
    stamps it from the command's context (``promptworks_eventkit``), so domain code never
    passes it around."""

    project_id: str = Field(
        default=DEFAULT_PROJECT,
        pattern=PROJECT_PATTERN,
        description="The project (tenant) the aggregate belongs to; absent: `default`.",
    )
