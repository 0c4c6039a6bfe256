"""Projects as the API answers them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ProjectOut(BaseModel):
    id: str
    name: str
    created_at: datetime


class ProjectList(BaseModel):
    items: list[ProjectOut]
