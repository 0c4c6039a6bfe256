"""Handlers of the class and tag commands (create, rename or change, delete with detach): one
set of handlers, bound to a ``Kind`` (``domain.taxonomy``).

A delete with ``detach`` is one transaction over several streams: one ``PromptMetadataEdited``
per prompt that used the class or tag, then the deletion; the positions list them all.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from prompt_service.domain.commands import CreateTerm, DeleteTerm, UpdateTerm
from prompt_service.domain.prompt_decisions import detach
from prompt_service.domain.taxonomy import Kind, Term, create_term, delete_term, update_term
from prompt_service.handlers.ports import PromptPort, PromptTx
from prompt_service.handlers.prompts import load_prompt, save_prompt
from promptworks_eventkit.errors import ConflictError, check_expected
from promptworks_eventkit.messages import MessageContext, Position
from promptworks_eventkit.writing.port import load_events


@dataclass(frozen=True)
class TermWritten:
    state: Term
    positions: Sequence[Position]
    detached: list[UUID] = field(default_factory=list)


async def _detach_all(
    tx: PromptTx, prompt_ids: list[UUID], actor: str, message: str, **what: UUID
) -> list[UUID]:
    """Edits each prompt (already locked by the caller) out of the class or tag."""
    detached = []
    for prompt_id in prompt_ids:
        prompt = await load_prompt(tx, prompt_id, None)
        events = detach(prompt, actor, message=message, **what)
        if events:
            await save_prompt(tx, prompt, events)
            detached.append(prompt_id)
    return detached


class TaxonomyHandlers:
    """The commands on one kind of term: classes, or tags."""

    def __init__(self, port: PromptPort, kind: Kind) -> None:
        self._port = port
        self.kind = kind

    async def _load(self, tx: PromptTx, term_id: UUID, expected: int | None) -> Term:
        if not await tx.repos.terms(self.kind).lock(term_id):
            raise self.kind.not_found(term_id)
        state = Term.from_events(self.kind, await load_events(tx, str(term_id)))
        check_expected(str(term_id), expected, state.version)
        return state

    async def create(self, command: CreateTerm, context: MessageContext) -> TermWritten:
        term_id = uuid.uuid4()
        events = create_term(self.kind, term_id, command.name, command.extra, command.actor)
        async with self._port.transaction(context) as tx:
            if not await tx.repos.terms(self.kind).claim(term_id, command.name, command.extra):
                raise self.kind.name_taken(command.name)
            await tx.append(str(term_id), events, 0)
        return TermWritten(Term.from_events(self.kind, events), tx.positions)

    async def update(self, command: UpdateTerm, context: MessageContext) -> TermWritten:
        async with self._port.transaction(context) as tx:
            state = await self._load(tx, command.term_id, command.expected_version)
            events = update_term(state, command.name, command.extra, command.actor)
            after = state.evolve(events)
            if events and not await tx.repos.terms(self.kind).update(
                command.term_id, after.name, after.extra
            ):
                raise self.kind.name_taken(after.name)
            await tx.append(str(command.term_id), events, state.version)
        return TermWritten(after, tx.positions)

    async def delete(self, command: DeleteTerm, context: MessageContext) -> TermWritten:
        kind = self.kind
        async with self._port.transaction(context) as tx:
            lookups = tx.repos.terms(kind)
            state = await self._load(tx, command.term_id, command.expected_version)
            users = await lookups.lock_users(command.term_id)
            events = delete_term(state, len(users), command.detach, command.actor)
            clashes = await lookups.detach_clashes(command.term_id) if users else []
            if clashes:
                raise ConflictError(
                    f"detaching would leave two prompts without a class named {clashes[0]!r}; "
                    "rename or move one of them first",
                    field="detach",
                    rule="unique",
                )
            message = f"{kind.noun} {state.name!r} deleted"
            what = {kind.id_field: command.term_id}
            detached = await _detach_all(tx, users, command.actor, message, **what)
            await tx.append(str(command.term_id), events, state.version)
            await lookups.delete(command.term_id)
        return TermWritten(state.evolve(events), tx.positions, detached)
