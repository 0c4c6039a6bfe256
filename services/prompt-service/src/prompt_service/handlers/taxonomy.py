"""Handlers of the class and tag commands (create, rename or recolour, delete with detach).

A delete with ``detach`` is one transaction over several streams: one ``PromptMetadataEdited``
per prompt that used the class or tag, then the deletion; the positions list them all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prompt_service import lookups
from prompt_service.domain import prompt_class as class_rules
from prompt_service.domain import prompt_tag as tag_rules
from prompt_service.domain.commands import (
    CreateClass,
    CreateTag,
    DeleteClass,
    DeleteTag,
    UpdateClass,
    UpdateTag,
)
from prompt_service.domain.prompt_class import PromptClass
from prompt_service.domain.prompt_decisions import detach
from prompt_service.domain.prompt_tag import PromptTag
from prompt_service.handlers.prompts import load_prompt, save_prompt
from prompt_service.handlers.unit_of_work import (
    Position,
    UnitOfWork,
    check_expected,
    unit_of_work,
)
from prompt_service.tables import classes, tags
from promptworks_eventkit.errors import ConflictError, NotFoundError
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.messages import MessageContext


@dataclass(frozen=True)
class ClassWritten:
    state: PromptClass
    positions: list[Position]
    detached: list[UUID] = field(default_factory=list)


@dataclass(frozen=True)
class TagWritten:
    state: PromptTag
    positions: list[Position]
    detached: list[UUID] = field(default_factory=list)


def _taken(kind: str, name: str) -> ConflictError:
    return ConflictError(f"a {kind} named {name!r} already exists", field="name", rule="unique")


async def _detach_all(
    uow: UnitOfWork, prompt_ids: list[UUID], actor: str, message: str, **what: UUID
) -> list[UUID]:
    """Edits each prompt (already locked by the caller) out of the class or tag."""
    detached = []
    for prompt_id in prompt_ids:
        prompt = await load_prompt(uow, prompt_id, None)
        events = detach(prompt, actor, message=message, **what)
        if events:
            await save_prompt(uow, prompt, events)
            detached.append(prompt_id)
    return detached


class TaxonomyHandlers:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: EventStore) -> None:
        self._sessions = sessions
        self._store = store

    async def _load_class(
        self, uow: UnitOfWork, class_id: UUID, expected: int | None
    ) -> PromptClass:
        if not await lookups.lock_named(uow.session, classes, class_id):
            raise NotFoundError(f"class {class_id} does not exist", field="class_id")
        state = PromptClass.from_events(await uow.load(str(class_id)))
        check_expected(str(class_id), expected, state.version)
        return state

    async def _load_tag(self, uow: UnitOfWork, tag_id: UUID, expected: int | None) -> PromptTag:
        if not await lookups.lock_named(uow.session, tags, tag_id):
            raise NotFoundError(f"tag {tag_id} does not exist", field="tag_id")
        state = PromptTag.from_events(await uow.load(str(tag_id)))
        check_expected(str(tag_id), expected, state.version)
        return state

    async def create_class(self, command: CreateClass, context: MessageContext) -> ClassWritten:
        class_id = uuid.uuid4()
        events = class_rules.create_class(
            class_id, command.name, command.description, command.actor
        )
        async with unit_of_work(self._sessions, self._store, context) as uow:
            row = {"class_id": class_id, "name": command.name}
            if not await lookups.claim_named(uow.session, classes, row):
                raise _taken("class", command.name)
            await uow.append(str(class_id), events, 0)
        return ClassWritten(PromptClass.from_events(events), uow.positions)

    async def update_class(self, command: UpdateClass, context: MessageContext) -> ClassWritten:
        async with unit_of_work(self._sessions, self._store, context) as uow:
            state = await self._load_class(uow, command.class_id, command.expected_version)
            events = class_rules.update_class(
                state, command.name, command.description, command.actor
            )
            after = state.evolve(events)
            if after.name != state.name and not await lookups.update_named(
                uow.session, classes, command.class_id, {"name": after.name}
            ):
                raise _taken("class", after.name)
            await uow.append(str(command.class_id), events, state.version)
        return ClassWritten(after, uow.positions)

    async def delete_class(self, command: DeleteClass, context: MessageContext) -> ClassWritten:
        async with unit_of_work(self._sessions, self._store, context) as uow:
            state = await self._load_class(uow, command.class_id, command.expected_version)
            users = await lookups.lock_prompts_in_class(uow.session, command.class_id)
            events = class_rules.delete_class(state, len(users), command.detach, command.actor)
            clashes = (
                await lookups.classless_clashes(uow.session, command.class_id) if users else []
            )
            if clashes:
                raise ConflictError(
                    f"detaching would leave two prompts without a class named {clashes[0]!r}; "
                    "rename or move one of them first",
                    field="detach",
                    rule="unique",
                )
            message = f"class {state.name!r} deleted"
            detached = await _detach_all(
                uow, users, command.actor, message, class_id=command.class_id
            )
            await uow.append(str(command.class_id), events, state.version)
            await lookups.delete_named(uow.session, classes, command.class_id)
        return ClassWritten(state.evolve(events), uow.positions, detached)

    async def create_tag(self, command: CreateTag, context: MessageContext) -> TagWritten:
        tag_id = uuid.uuid4()
        events = tag_rules.create_tag(tag_id, command.name, command.color, command.actor)
        async with unit_of_work(self._sessions, self._store, context) as uow:
            row = {"tag_id": tag_id, "name": command.name, "color": command.color}
            if not await lookups.claim_named(uow.session, tags, row):
                raise _taken("tag", command.name)
            await uow.append(str(tag_id), events, 0)
        return TagWritten(PromptTag.from_events(events), uow.positions)

    async def update_tag(self, command: UpdateTag, context: MessageContext) -> TagWritten:
        async with unit_of_work(self._sessions, self._store, context) as uow:
            state = await self._load_tag(uow, command.tag_id, command.expected_version)
            events = tag_rules.update_tag(state, command.name, command.color, command.actor)
            after = state.evolve(events)
            if events and not await lookups.update_named(
                uow.session, tags, command.tag_id, {"name": after.name, "color": after.color}
            ):
                raise _taken("tag", after.name)
            await uow.append(str(command.tag_id), events, state.version)
        return TagWritten(after, uow.positions)

    async def delete_tag(self, command: DeleteTag, context: MessageContext) -> TagWritten:
        async with unit_of_work(self._sessions, self._store, context) as uow:
            state = await self._load_tag(uow, command.tag_id, command.expected_version)
            users = await lookups.lock_prompts_tagged(uow.session, command.tag_id)
            events = tag_rules.delete_tag(state, len(users), command.detach, command.actor)
            message = f"tag {state.name!r} deleted"
            detached = await _detach_all(uow, users, command.actor, message, tag_id=command.tag_id)
            await uow.append(str(command.tag_id), events, state.version)
            await lookups.delete_named(uow.session, tags, command.tag_id)
        return TagWritten(state.evolve(events), uow.positions, detached)
