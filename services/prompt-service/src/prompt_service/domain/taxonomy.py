"""Classes and tags: ONE taxonomy aggregate, parameterised by its ``Kind``.

To the command side a class (a category of prompts, with a description) and a tag (a label
with a colour) are one thing, a *term*: an id, a name, one more attribute, a stream of
created / updated / deleted events. A ``Kind`` says which of the two a term is: the name of
its id field, its event types, its extra attribute, its set-validation lookup and the words
its messages use. ``CLASS`` and ``TAG`` are the two kinds.

Invariants: a term's name is unique among the live terms of its kind (kept by the kind's
lookup, not here); a deleted term takes no further event; a term is deleted only when no
prompt uses it (``detach`` first edits each prompt out of it, an edit of that prompt).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prompt_service.domain.commands import validated
from promptworks_contracts.events import (
    DomainEvent,
    PromptClassCreated,
    PromptClassDeleted,
    PromptClassUpdated,
    PromptTagCreated,
    PromptTagDeleted,
    PromptTagUpdated,
)
from promptworks_eventkit.errors import ConflictError, NotFoundError


@dataclass(frozen=True)
class Kind:
    """What makes a term a class or a tag."""

    noun: str
    """``class`` or ``tag``: how messages name it."""
    id_field: str
    """The id's name in its events, in the API's paths and in errors (``class_id``)."""
    extra: str
    """The attribute besides the name, in its events and in the API (``description``)."""
    created: type[DomainEvent]
    updated: type[DomainEvent]
    deleted: type[DomainEvent]
    lookup: str
    """The set-validation table of its live terms (``classes``); adapters keep it."""
    in_use_advice: str
    """How to free a term that prompts still use (the end of the 409 ``in_use`` message)."""

    def event(self, event_type: type[DomainEvent], term_id: UUID, **fields: Any) -> DomainEvent:
        """One of its events; a value the event refuses (a tag's colour) names its field."""
        return validated(lambda: event_type.model_validate({self.id_field: term_id, **fields}))

    def not_found(self, term_id: UUID | None) -> NotFoundError:
        return NotFoundError(f"{self.noun} {term_id} does not exist", field=self.id_field)

    def name_taken(self, name: str) -> ConflictError:
        return ConflictError(
            f"a {self.noun} named {name!r} already exists", field="name", rule="unique"
        )


CLASS = Kind(
    noun="class",
    id_field="class_id",
    extra="description",
    created=PromptClassCreated,
    updated=PromptClassUpdated,
    deleted=PromptClassDeleted,
    lookup="classes",
    in_use_advice=(
        "move them to another class first, or delete with ?detach=true to leave them "
        "without a class"
    ),
)

TAG = Kind(
    noun="tag",
    id_field="tag_id",
    extra="color",
    created=PromptTagCreated,
    updated=PromptTagUpdated,
    deleted=PromptTagDeleted,
    lookup="tags",
    in_use_advice=(
        "remove it from them first, or delete with ?detach=true to remove it everywhere"
    ),
)


@dataclass
class Term:
    """A class or a tag, folded from its stream."""

    kind: Kind
    term_id: UUID | None = None
    name: str = ""
    extra: str = ""
    """A class's description, a tag's colour."""
    deleted: bool = False
    version: int = 0

    @classmethod
    def from_events(cls, kind: Kind, events: Iterable[DomainEvent]) -> Term:
        return cls(kind).evolve(events)

    def evolve(self, events: Iterable[DomainEvent]) -> Term:
        """A new state with ``events`` applied; ``self`` stays as it was."""
        state = copy.copy(self)
        for event in events:
            state.version += 1
            if isinstance(event, (self.kind.created, self.kind.updated)):
                fields = event.model_dump()
                state.term_id = fields[self.kind.id_field]
                state.name = fields["name"]
                state.extra = fields[self.kind.extra]
            elif isinstance(event, self.kind.deleted):
                state.deleted = True
        return state

    def require_live(self) -> UUID:
        if self.term_id is None or self.deleted:
            raise self.kind.not_found(self.term_id)
        return self.term_id


def create_term(kind: Kind, term_id: UUID, name: str, extra: str, actor: str) -> list[DomainEvent]:
    fields = {"name": name, kind.extra: extra}
    return [kind.event(kind.created, term_id, actor=actor, **fields)]


def update_term(state: Term, name: str | None, extra: str | None, actor: str) -> list[DomainEvent]:
    """A rename and/or a new extra attribute; no event when both stay as they are."""
    kind, term_id = state.kind, state.require_live()
    new_name = state.name if name is None else name
    new_extra = state.extra if extra is None else extra
    if (new_name, new_extra) == (state.name, state.extra):
        return []
    fields = {"name": new_name, kind.extra: new_extra}
    return [kind.event(kind.updated, term_id, actor=actor, **fields)]


def delete_term(state: Term, prompts_using: int, detach: bool, actor: str) -> list[DomainEvent]:
    """``prompts_using``: prompts (archived ones included) using the term before detaching."""
    kind, term_id = state.kind, state.require_live()
    if prompts_using and not detach:
        raise ConflictError(
            f"{kind.noun} {state.name!r} is used by {prompts_using} prompt(s), archived ones "
            f"included; {kind.in_use_advice}",
            field=kind.id_field,
            rule="in_use",
        )
    return [kind.event(kind.deleted, term_id, actor=actor)]
