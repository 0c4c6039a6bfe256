"""Base class of every domain event payload (the CloudEvent's data)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class DomainEvent(BaseModel):
    """Plain, immutable data. Unknown fields are ignored so that optional fields can be added
    within one ``vN`` without breaking older consumers."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    """The full CloudEvents type, e.g. ``promptworks.prompt.created.v1``."""
    topic: ClassVar[str]

    def stream_id(self) -> str:
        """The aggregate id this event belongs to (Kafka key and CloudEvents subject)."""
        raise NotImplementedError
