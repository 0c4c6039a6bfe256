"""What the handlers need besides the event streams: the set-validation lookups, as protocols.

Rules across aggregates (a prompt's name is unique within its class, class and tag names are
unique, a class or tag in use cannot vanish) need indexes the event streams do not have. The
lookups keep those rows, written in the SAME transaction as the events they mirror (they are
the ``repos`` of the write port's ``Transaction``), so they never disagree with the streams.

Implementations: ``adapters.postgres`` (what the service runs on; its docstring says how the
locks make every rule race-free) and ``adapters.memory`` (for handler tests). Both answer the
same: a name taken -> ``False``, an unknown id -> ``False`` / ``None`` / left out.

- A prompt's row holds its id, its class and its name (archived prompts included: a restore
  must not clash); its tags are exactly its current ``tag_ids``.
- A class's or tag's row (a *term*, see ``domain.taxonomy``) exists while it is live; deleting
  it frees its name, its stream keeps the history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol
from uuid import UUID

from prompt_service.domain.taxonomy import Kind
from promptworks_eventkit.writing.port import Transaction, WritePort


class TermLookups(Protocol):
    """The live terms of one kind (classes, or tags): an id and a unique name each."""

    async def lock(self, term_id: UUID) -> bool:
        """Locks the term for a rename or a delete; False when it does not exist."""
        ...

    async def share(self, term_ids: Sequence[UUID]) -> set[UUID]:
        """Holds the terms a prompt is about to use against a delete until this transaction
        ends (attachers do not block each other); returns the ones that exist."""
        ...

    async def ids_by_name(self, names: Sequence[str]) -> dict[str, UUID]:
        """The live terms among ``names`` (unknown names are left out)."""
        ...

    async def name_of(self, term_id: UUID) -> str | None: ...

    async def claim(self, term_id: UUID, name: str, extra: str) -> bool:
        """Adds a term; False when its name is taken."""
        ...

    async def update(self, term_id: UUID, name: str, extra: str) -> bool:
        """The term's name and extra attribute after a change; False when the name is taken."""
        ...

    async def delete(self, term_id: UUID) -> None: ...

    async def lock_users(self, term_id: UUID) -> list[UUID]:
        """Locks the prompts using the term (in the class, carrying the tag) and returns them,
        sorted: every prompt using it once its ``lock`` is held."""
        ...

    async def detach_clashes(self, term_id: UUID) -> list[str]:
        """Names that detaching the term's prompts would make clash, sorted: a prompt in the
        class and one without a class with the same name (never any for a tag)."""
        ...


class PromptRepos(Protocol):
    """The set-validation lookups of prompt-service, bound to one transaction."""

    async def lock_prompt(self, prompt_id: UUID) -> bool:
        """Locks the prompt for this transaction; False when no such prompt exists."""
        ...

    async def claim_prompt_name(self, prompt_id: UUID, class_id: UUID | None, name: str) -> bool:
        """Adds the prompt; False when another prompt already holds ``name`` in that class."""
        ...

    async def move_prompt_name(self, prompt_id: UUID, class_id: UUID | None, name: str) -> bool:
        """A rename and/or a move to another class; False when the name is taken there."""
        ...

    async def set_prompt_tags(
        self, prompt_id: UUID, before: Iterable[UUID], after: Iterable[UUID]
    ) -> None: ...

    def terms(self, kind: Kind) -> TermLookups:
        """The lookups of classes (``CLASS``) or tags (``TAG``)."""
        ...


PromptPort = WritePort[PromptRepos]
PromptTx = Transaction[PromptRepos]
