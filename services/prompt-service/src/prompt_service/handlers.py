"""Command handlers: load the aggregate, decide, append, all in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prompt_service.domain.commands import CreatePrompt, CreateVersion
from prompt_service.domain.prompt import Prompt, create_prompt, create_version
from prompt_service.tables import prompt_names
from promptworks_contracts.events import PromptVersionCreated
from promptworks_eventkit.errors import ConflictError, NotFoundError
from promptworks_eventkit.eventstore import EventStore, MessageContext


@dataclass(frozen=True)
class VersionCreated:
    prompt_id: UUID
    version_id: UUID
    version_number: int
    stream_version: int


class PromptHandlers:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: EventStore) -> None:
        self._sessions = sessions
        self._store = store

    async def create_prompt(self, command: CreatePrompt, context: MessageContext) -> VersionCreated:
        events = create_prompt(command)
        version = events[-1]
        assert isinstance(version, PromptVersionCreated)
        async with self._sessions() as session, session.begin():
            claimed = await session.execute(
                pg_insert(prompt_names)
                .values(
                    prompt_id=str(version.prompt_id),
                    class_name=command.class_name or "",
                    name=command.name,
                )
                .on_conflict_do_nothing()
                .returning(prompt_names.c.prompt_id)
            )
            if claimed.first() is None:
                raise ConflictError(
                    f"a prompt named {command.name!r} already exists in class "
                    f"{command.class_name or '(none)'}; add a version to it instead",
                    field="name",
                    rule="unique",
                )
            envelopes = await self._store.append(
                session, str(version.prompt_id), events, 0, context
            )
        return VersionCreated(
            version.prompt_id, version.version_id, version.number, envelopes[-1].streamversion
        )

    async def create_version(
        self, command: CreateVersion, context: MessageContext
    ) -> VersionCreated:
        stream_id = str(command.prompt_id)
        async with self._sessions() as session, session.begin():
            stored = await self._store.load(session, stream_id)
            if not stored:
                raise NotFoundError(f"prompt {stream_id} does not exist", field="prompt_id")
            prompt = Prompt.from_events(s.event for s in stored)
            current = len(stored)
            expected = current if command.expected_version is None else command.expected_version
            events = create_version(prompt, command.content)
            envelopes = await self._store.append(session, stream_id, events, expected, context)
        version = events[0]
        assert isinstance(version, PromptVersionCreated)
        return VersionCreated(
            version.prompt_id, version.version_id, version.number, envelopes[-1].streamversion
        )
