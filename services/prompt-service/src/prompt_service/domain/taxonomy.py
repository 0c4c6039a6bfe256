"""The prompt class aggregate (a category of prompts): state folded from its stream, decisions.

Invariants: a class's name is unique among live classes (kept by the ``classes`` lookup, not
here); a deleted class takes no further event; a class is deleted only when no prompt uses it
(``detach`` first moves each prompt out by an edit of that prompt).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from promptworks_contracts.events import (
    DomainEvent,
    PromptClassCreated,
    PromptClassDeleted,
    PromptClassUpdated,
)
from promptworks_eventkit.errors import ConflictError, NotFoundError


@dataclass
class PromptClass:
    class_id: UUID | None = None
    name: str = ""
    description: str = ""
    deleted: bool = False
    version: int = 0

    @classmethod
    def from_events(cls, events: Iterable[DomainEvent]) -> PromptClass:
        return cls().evolve(events)

    def evolve(self, events: Iterable[DomainEvent]) -> PromptClass:
        state = copy.copy(self)
        for event in events:
            state.version += 1
            match event:
                case PromptClassCreated() | PromptClassUpdated():
                    state.class_id = event.class_id
                    state.name = event.name
                    state.description = event.description
                case PromptClassDeleted():
                    state.deleted = True
        return state

    def require_live(self) -> UUID:
        if self.class_id is None or self.deleted:
            raise NotFoundError(f"class {self.class_id} does not exist", field="class_id")
        return self.class_id


def create_class(class_id: UUID, name: str, description: str, actor: str) -> list[DomainEvent]:
    return [PromptClassCreated(class_id=class_id, name=name, description=description, actor=actor)]


def update_class(
    state: PromptClass, name: str | None, description: str | None, actor: str
) -> list[DomainEvent]:
    """A rename and/or a new description; no event when both stay as they are."""
    class_id = state.require_live()
    new_name = state.name if name is None else name
    new_description = state.description if description is None else description
    if (new_name, new_description) == (state.name, state.description):
        return []
    return [
        PromptClassUpdated(
            class_id=class_id, name=new_name, description=new_description, actor=actor
        )
    ]


def delete_class(
    state: PromptClass, prompts_using: int, detach: bool, actor: str
) -> list[DomainEvent]:
    """``prompts_using``: prompts (archived ones included) in the class before any detaching."""
    class_id = state.require_live()
    if prompts_using and not detach:
        raise ConflictError(
            f"class {state.name!r} is used by {prompts_using} prompt(s), archived ones included; "
            "move them to another class first, or delete with ?detach=true to leave them "
            "without a class",
            field="class_id",
            rule="in_use",
        )
    return [PromptClassDeleted(class_id=class_id, actor=actor)]
