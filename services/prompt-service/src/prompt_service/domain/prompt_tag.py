"""The prompt tag aggregate (a name and a colour): state folded from its stream, decisions.

Invariants: a tag's name is unique among live tags (kept by the ``tags`` lookup); a deleted tag
takes no further event; a tag is deleted only when no prompt carries it (``detach`` first
removes it from each prompt by an edit of that prompt).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from promptworks_contracts.events import (
    DomainEvent,
    PromptTagCreated,
    PromptTagDeleted,
    PromptTagUpdated,
)
from promptworks_eventkit.errors import ConflictError, NotFoundError


@dataclass
class PromptTag:
    tag_id: UUID | None = None
    name: str = ""
    color: str = ""
    deleted: bool = False
    version: int = 0

    @classmethod
    def from_events(cls, events: Iterable[DomainEvent]) -> PromptTag:
        return cls().evolve(events)

    def evolve(self, events: Iterable[DomainEvent]) -> PromptTag:
        state = copy.copy(self)
        for event in events:
            state.version += 1
            match event:
                case PromptTagCreated() | PromptTagUpdated():
                    state.tag_id = event.tag_id
                    state.name = event.name
                    state.color = event.color
                case PromptTagDeleted():
                    state.deleted = True
        return state

    def require_live(self) -> UUID:
        if self.tag_id is None or self.deleted:
            raise NotFoundError(f"tag {self.tag_id} does not exist", field="tag_id")
        return self.tag_id


def create_tag(tag_id: UUID, name: str, color: str, actor: str) -> list[DomainEvent]:
    return [PromptTagCreated(tag_id=tag_id, name=name, color=color, actor=actor)]


def update_tag(
    state: PromptTag, name: str | None, color: str | None, actor: str
) -> list[DomainEvent]:
    """A rename and/or a new colour; no event when both stay as they are."""
    tag_id = state.require_live()
    new_name = state.name if name is None else name
    new_color = state.color if color is None else color
    if (new_name, new_color) == (state.name, state.color):
        return []
    return [PromptTagUpdated(tag_id=tag_id, name=new_name, color=new_color, actor=actor)]


def delete_tag(state: PromptTag, prompts_using: int, detach: bool, actor: str) -> list[DomainEvent]:
    """``prompts_using``: prompts (archived ones included) carrying the tag before detaching."""
    tag_id = state.require_live()
    if prompts_using and not detach:
        raise ConflictError(
            f"tag {state.name!r} is used by {prompts_using} prompt(s), archived ones included; "
            "remove it from them first, or delete with ?detach=true to remove it everywhere",
            field="tag_id",
            rule="in_use",
        )
    return [PromptTagDeleted(tag_id=tag_id, actor=actor)]
