"""The base of every value object: immutable, unknown fields ignored (an older reader of a newer
event), serialised by alias."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", serialize_by_alias=True)
