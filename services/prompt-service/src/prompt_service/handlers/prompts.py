"""Handlers of the prompt commands: lock, load, decide, keep the lookups in step, append.

Each runs in one transaction of the write port and appends at most once per stream.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from prompt_service.domain import pointers
from prompt_service.domain import prompt_decisions as decide
from prompt_service.domain.commands import (
    ArchivePrompt,
    CreatePrompt,
    CreateVersion,
    EditPrompt,
    MoveLabel,
    RemoveLabel,
    RestorePrompt,
    SetCurrentVersion,
    UpdatePrompt,
)
from prompt_service.domain.content import ContentWarning
from prompt_service.domain.prompt import Prompt, VersionInfo
from prompt_service.domain.prompt_decisions import MetadataPatch
from prompt_service.domain.taxonomy import CLASS
from prompt_service.handlers.ports import PromptPort, PromptTx
from prompt_service.handlers.references import resolve_class, resolve_tags
from promptworks_contracts.events import DomainEvent
from promptworks_eventkit.errors import ConflictError, NotFoundError, check_expected
from promptworks_eventkit.messages import MessageContext, Position
from promptworks_eventkit.writing.port import load_events


@dataclass(frozen=True)
class PromptWritten:
    """The prompt after the command, every stream position written, and what to report."""

    prompt: Prompt
    positions: Sequence[Position]
    warnings: list[ContentWarning] = field(default_factory=list)
    new_version: VersionInfo | None = None


async def _name_taken(tx: PromptTx, name: str, class_id: UUID | None) -> ConflictError:
    class_name = await tx.repos.terms(CLASS).name_of(class_id) if class_id else None
    where = f"in class {class_name!r}" if class_name else "without a class"
    return ConflictError(
        f"a prompt named {name!r} already exists {where} (archived prompts keep their names); "
        "add a version to it or choose another name",
        field="name",
        rule="unique",
    )


async def load_prompt(tx: PromptTx, prompt_id: UUID, expected: int | None) -> Prompt:
    """Locks and folds the prompt; 404 if unknown, 409 if ``expected`` is stale."""
    if not await tx.repos.lock_prompt(prompt_id):
        raise NotFoundError(f"prompt {prompt_id} does not exist", field="prompt_id")
    prompt = Prompt.from_events(await load_events(tx, str(prompt_id)))
    check_expected(str(prompt_id), expected, prompt.version)
    return prompt


async def save_prompt(tx: PromptTx, before: Prompt, events: Sequence[DomainEvent]) -> Prompt:
    """Appends ``events`` and brings the prompt's lookup rows to the state after them."""
    after = before.evolve(events)
    assert after.prompt_id is not None
    if (after.name, after.class_id) != (before.name, before.class_id) and not (
        await tx.repos.move_prompt_name(after.prompt_id, after.class_id, after.name)
    ):
        raise await _name_taken(tx, after.name, after.class_id)
    if after.tag_ids != before.tag_ids:
        await tx.repos.set_prompt_tags(after.prompt_id, before.tag_ids, after.tag_ids)
    await tx.append(str(after.prompt_id), events, before.version)
    return after


class PromptHandlers:
    def __init__(self, port: PromptPort) -> None:
        self._port = port

    async def create_prompt(self, command: CreatePrompt, context: MessageContext) -> PromptWritten:
        prompt_id = uuid.uuid4()
        async with self._port.transaction(context) as tx:
            class_id = await resolve_class(tx, command.class_ref, None, command.actor)
            tag_ids = await resolve_tags(tx, command.tags, ())
            decision = decide.create_prompt(prompt_id, command, class_id, tag_ids)
            if not await tx.repos.claim_prompt_name(prompt_id, class_id, command.name):
                raise await _name_taken(tx, command.name, class_id)
            await tx.repos.set_prompt_tags(prompt_id, (), tag_ids)
            await tx.append(str(prompt_id), decision.events, 0)
        prompt = Prompt.from_events(decision.events)
        return PromptWritten(prompt, tx.positions, decision.warnings, prompt.versions[-1])

    async def create_version(
        self, command: CreateVersion, context: MessageContext
    ) -> PromptWritten:
        async with self._port.transaction(context) as tx:
            before = await load_prompt(tx, command.prompt_id, command.expected_version)
            decision = decide.add_version(before, command.content, command.actor)
            after = await save_prompt(tx, before, decision.events)
        return PromptWritten(after, tx.positions, decision.warnings, after.versions[-1])

    async def _patch(self, tx: PromptTx, prompt: Prompt, command: EditPrompt) -> MetadataPatch:
        prompt.require_writable()  # before a class_name could create a class
        class_id = (
            await resolve_class(tx, command.class_ref, prompt.class_id, command.actor)
            if command.class_ref is not None
            else None
        )
        tag_ids = (
            await resolve_tags(tx, command.tags, prompt.tag_ids)
            if command.tags is not None
            else None
        )
        return MetadataPatch(
            name=command.name,
            description=command.description,
            author=command.author,
            set_class=command.class_ref is not None,
            class_id=class_id,
            tag_ids=tag_ids,
        )

    async def edit_prompt(self, command: EditPrompt, context: MessageContext) -> PromptWritten:
        async with self._port.transaction(context) as tx:
            before = await load_prompt(tx, command.prompt_id, command.expected_version)
            patch = await self._patch(tx, before, command)
            events = decide.edit_metadata(before, patch, command.actor, command.message)
            after = await save_prompt(tx, before, events)
        return PromptWritten(after, tx.positions)

    async def update_prompt(self, command: UpdatePrompt, context: MessageContext) -> PromptWritten:
        edit = command.edit
        async with self._port.transaction(context) as tx:
            before = await load_prompt(tx, edit.prompt_id, edit.expected_version)
            patch = await self._patch(tx, before, edit)
            decision = decide.update_prompt(
                before,
                patch,
                command.new_version,
                command.activate_version_id,
                edit.actor,
                edit.message,
            )
            after = await save_prompt(tx, before, decision.events)
        created = after.versions[-1] if command.new_version is not None else None
        return PromptWritten(after, tx.positions, decision.warnings, created)

    async def _simple(
        self,
        prompt_id: UUID,
        expected: int | None,
        context: MessageContext,
        decision: Callable[[Prompt], list[DomainEvent]],
    ) -> PromptWritten:
        async with self._port.transaction(context) as tx:
            before = await load_prompt(tx, prompt_id, expected)
            after = await save_prompt(tx, before, decision(before))
        return PromptWritten(after, tx.positions)

    async def move_label(self, command: MoveLabel, context: MessageContext) -> PromptWritten:
        return await self._simple(
            command.prompt_id,
            command.expected_version,
            context,
            lambda p: pointers.move_label(
                p, command.label, command.target, command.actor, command.message
            ),
        )

    async def remove_label(self, command: RemoveLabel, context: MessageContext) -> PromptWritten:
        return await self._simple(
            command.prompt_id,
            command.expected_version,
            context,
            lambda p: pointers.remove_label(p, command.label, command.actor, command.message),
        )

    async def set_current_version(
        self, command: SetCurrentVersion, context: MessageContext
    ) -> PromptWritten:
        return await self._simple(
            command.prompt_id,
            command.expected_version,
            context,
            lambda p: pointers.set_current_version(
                p, command.target, command.actor, command.message
            ),
        )

    async def archive(self, command: ArchivePrompt, context: MessageContext) -> PromptWritten:
        return await self._simple(
            command.prompt_id,
            command.expected_version,
            context,
            lambda p: decide.archive(p, command.actor, command.message),
        )

    async def restore(self, command: RestorePrompt, context: MessageContext) -> PromptWritten:
        return await self._simple(
            command.prompt_id,
            command.expected_version,
            context,
            lambda p: decide.restore(p, command.actor, command.message),
        )
