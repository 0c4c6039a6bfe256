"""The set-validation lookups in memory: the ``handlers.ports`` protocols for handler tests.

Plain dicts, so that ``InMemoryWritePort`` can deep-copy them per transaction (a failed command
leaves nothing). Transactions there run one at a time, so a lock is only an existence check;
everything else answers as ``adapters.postgres`` does: the unique indexes (a prompt's name in
its class, or among prompts without a class; a class's or tag's name), and the foreign key of a
prompt's tags (a tag in use cannot be deleted, a tag must exist to be attached), which
PostgreSQL reports as a race (``ConflictError`` ``concurrent_update``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from prompt_service.domain.taxonomy import Kind
from prompt_service.handlers.ports import TermLookups
from promptworks_eventkit.errors import ConflictError
from promptworks_eventkit.writing.port import RETRY_MESSAGE


@dataclass
class PromptRow:
    class_id: UUID | None
    name: str


@dataclass
class TermRow:
    name: str
    extra: str


@dataclass
class MemoryPromptRepos:
    """``PromptRepos``: every row, keyed by id; ``terms`` by the kind's ``lookup``."""

    prompts: dict[UUID, PromptRow] = field(default_factory=dict)
    prompt_tags: dict[UUID, set[UUID]] = field(default_factory=dict)
    terms_by_lookup: dict[str, dict[UUID, TermRow]] = field(
        default_factory=lambda: {"classes": {}, "tags": {}}
    )

    def _name_free(self, prompt_id: UUID, class_id: UUID | None, name: str) -> bool:
        return not any(
            (row.class_id, row.name) == (class_id, name)
            for other, row in self.prompts.items()
            if other != prompt_id
        )

    async def lock_prompt(self, prompt_id: UUID) -> bool:
        return prompt_id in self.prompts

    async def claim_prompt_name(self, prompt_id: UUID, class_id: UUID | None, name: str) -> bool:
        if prompt_id in self.prompts or not self._name_free(prompt_id, class_id, name):
            return False
        self.prompts[prompt_id] = PromptRow(class_id, name)
        return True

    async def move_prompt_name(self, prompt_id: UUID, class_id: UUID | None, name: str) -> bool:
        if not self._name_free(prompt_id, class_id, name):
            return False
        self.prompts[prompt_id] = PromptRow(class_id, name)
        return True

    async def set_prompt_tags(
        self, prompt_id: UUID, before: Iterable[UUID], after: Iterable[UUID]
    ) -> None:
        tags = set(after)
        if prompt_id not in self.prompts or not tags <= self.terms_by_lookup["tags"].keys():
            raise ConflictError(RETRY_MESSAGE, rule="concurrent_update")  # a foreign key
        self.prompt_tags[prompt_id] = tags

    def terms(self, kind: Kind) -> TermLookups:
        return MemoryTermLookups(self, kind.lookup)

    def users(self, lookup: str, term_id: UUID) -> list[UUID]:
        """The prompts in the class (``classes``) or carrying the tag (``tags``), sorted."""
        if lookup == "classes":
            return sorted(p for p, row in self.prompts.items() if row.class_id == term_id)
        return sorted(p for p, tags in self.prompt_tags.items() if term_id in tags)


@dataclass
class MemoryTermLookups:
    """A view of one kind's rows in ``MemoryPromptRepos`` (it keeps no state of its own)."""

    repos: MemoryPromptRepos
    lookup: str

    @property
    def _rows(self) -> dict[UUID, TermRow]:
        return self.repos.terms_by_lookup[self.lookup]

    def _name_free(self, term_id: UUID, name: str) -> bool:
        return all(row.name != name for other, row in self._rows.items() if other != term_id)

    async def lock(self, term_id: UUID) -> bool:
        return term_id in self._rows

    async def share(self, term_ids: Sequence[UUID]) -> set[UUID]:
        return set(term_ids) & self._rows.keys()

    async def ids_by_name(self, names: Sequence[str]) -> dict[str, UUID]:
        return {row.name: term_id for term_id, row in self._rows.items() if row.name in names}

    async def name_of(self, term_id: UUID) -> str | None:
        row = self._rows.get(term_id)
        return row.name if row else None

    async def claim(self, term_id: UUID, name: str, extra: str) -> bool:
        if term_id in self._rows or not self._name_free(term_id, name):
            return False
        self._rows[term_id] = TermRow(name, extra)
        return True

    async def update(self, term_id: UUID, name: str, extra: str) -> bool:
        if not self._name_free(term_id, name):
            return False
        if term_id in self._rows:
            self._rows[term_id] = TermRow(name, extra)
        return True

    async def delete(self, term_id: UUID) -> None:
        if self.lookup == "tags" and self.repos.users(self.lookup, term_id):
            raise ConflictError(RETRY_MESSAGE, rule="concurrent_update")  # a foreign key
        self._rows.pop(term_id, None)

    async def lock_users(self, term_id: UUID) -> list[UUID]:
        return self.repos.users(self.lookup, term_id)

    async def detach_clashes(self, term_id: UUID) -> list[str]:
        if self.lookup != "classes":
            return []
        classless = {row.name for row in self.repos.prompts.values() if row.class_id is None}
        users = self.repos.users(self.lookup, term_id)
        return sorted({self.repos.prompts[p].name for p in users} & classless)
