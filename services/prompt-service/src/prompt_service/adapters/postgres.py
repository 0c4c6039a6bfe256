"""The set-validation lookups on PostgreSQL (``handlers.ports`` protocols, the ``tables`` rows),
read and written inside a command's transaction: the repositories of the ``PostgresWritePort``.

Locking, and why it is race-free (PostgreSQL, READ COMMITTED):
- Unique indexes decide every race on a name: two creators of one prompt name in one class (or
  of one class or tag name) both insert; the second waits for the first and, once it commits,
  inserts nothing, which the handler turns into 409. No read-then-write gap exists.
- Every command on an existing prompt first locks the prompt's ``prompt_names`` row
  ``FOR UPDATE``: commands on one prompt run one after another, so a command without
  ``If-Match`` never fails on a concurrent one, and one with a stale ``If-Match`` gets 409.
  The event store's ``UNIQUE (stream_id, version)`` stays the final guard against lost updates.
- A command that attaches a class or tag the prompt does not have yet locks that class or tag
  row ``FOR KEY SHARE`` (concurrent attachers do not block each other). Deleting a class or tag
  locks its row ``FOR UPDATE`` first, which waits for those attachers and holds later ones off
  until it commits; then they find the row gone and answer 422 ``not_found``. So the delete
  sees every prompt that uses it, and no prompt can attach it in between.
- The delete then locks the using prompts' rows ``FOR UPDATE`` in ``prompt_id`` order (one
  order for everyone: two deletes cannot deadlock on them) and recounts the users. A prompt
  command takes its own row before any class or tag, and only for ones it newly attaches (which
  that delete is not waiting for), so these locks form no cycle in practice; a deadlock
  PostgreSQL still detects becomes a 409 "retry" (see ``promptworks_eventkit.writing.postgres``).
- Renaming a class or tag locks its row ``FOR UPDATE`` and the unique index refuses a taken name.

Projects: the repositories are bound to the command's project (``MessageContext.project``) and
see only its rows: a prompt, class or tag of another project is "not found" (404, or 422 as a
reference), never locked, renamed or attached, and names clash only within a project.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Executable, Table, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from prompt_service.adapters.tables import classes, prompt_names, prompt_tags, tags
from prompt_service.domain.taxonomy import Kind
from prompt_service.handlers.ports import TermLookups
from promptworks_eventkit.messages import MessageContext

UNIQUE_VIOLATION = "23505"


def _is_unique_violation(error: IntegrityError) -> bool:
    return getattr(error.orig, "sqlstate", None) == UNIQUE_VIOLATION


async def _update_unless_taken(session: AsyncSession, statement: Executable) -> bool:
    """Runs an UPDATE in a savepoint; False when it would break a unique index."""
    try:
        async with session.begin_nested():
            await session.execute(statement)
    except IntegrityError as error:
        if not _is_unique_violation(error):
            raise
        return False
    return True


# --- prompts -------------------------------------------------------------------------------


class PostgresPromptRepos:
    """``PromptRepos`` on the command's session, in the command's project."""

    def __init__(self, session: AsyncSession, context: MessageContext | None = None) -> None:
        self._session = session
        self._project = (context or MessageContext()).project

    async def lock_prompt(self, prompt_id: UUID) -> bool:
        query = select(prompt_names.c.prompt_id).where(
            prompt_names.c.prompt_id == prompt_id, prompt_names.c.project_id == self._project
        )
        return (await self._session.execute(query.with_for_update())).first() is not None

    async def claim_prompt_name(self, prompt_id: UUID, class_id: UUID | None, name: str) -> bool:
        claimed = await self._session.execute(
            pg_insert(prompt_names)
            .values(prompt_id=prompt_id, class_id=class_id, name=name, project_id=self._project)
            .on_conflict_do_nothing()
            .returning(prompt_names.c.prompt_id)
        )
        return claimed.first() is not None

    async def move_prompt_name(self, prompt_id: UUID, class_id: UUID | None, name: str) -> bool:
        statement = (
            update(prompt_names)
            .where(prompt_names.c.prompt_id == prompt_id)
            .values(class_id=class_id, name=name)
        )
        return await _update_unless_taken(self._session, statement)

    async def set_prompt_tags(
        self, prompt_id: UUID, before: Iterable[UUID], after: Iterable[UUID]
    ) -> None:
        old, new = set(before), set(after)
        if old - new:
            await self._session.execute(
                delete(prompt_tags).where(
                    prompt_tags.c.prompt_id == prompt_id, prompt_tags.c.tag_id.in_(old - new)
                )
            )
        if new - old:
            rows = [{"prompt_id": prompt_id, "tag_id": tag_id} for tag_id in new - old]
            await self._session.execute(insert(prompt_tags), rows)

    def terms(self, kind: Kind) -> TermLookups:
        return PostgresTermLookups(self._session, _LOOKUPS[kind.lookup], self._project)


async def lock_prompts_in_class(session: AsyncSession, class_id: UUID) -> list[UUID]:
    query = (
        select(prompt_names.c.prompt_id)
        .where(prompt_names.c.class_id == class_id)
        .order_by(prompt_names.c.prompt_id)
        .with_for_update()
    )
    return list((await session.execute(query)).scalars())


async def classless_clashes(session: AsyncSession, class_id: UUID) -> list[str]:
    """Names in the class that a prompt without a class already has (detaching would clash)."""
    project = select(classes.c.project_id).where(classes.c.class_id == class_id).scalar_subquery()
    classless = select(prompt_names.c.name).where(
        prompt_names.c.class_id.is_(None), prompt_names.c.project_id == project
    )
    query = (
        select(prompt_names.c.name)
        .where(prompt_names.c.class_id == class_id, prompt_names.c.name.in_(classless))
        .order_by(prompt_names.c.name)
    )
    return list((await session.execute(query)).scalars())


async def lock_prompts_tagged(session: AsyncSession, tag_id: UUID) -> list[UUID]:
    """Locks the prompts carrying the tag, then reads the carriers again: an edit that removed
    the tag while this waited for its lock has committed by now and is seen."""
    tagged = select(prompt_tags.c.prompt_id).where(prompt_tags.c.tag_id == tag_id)
    await session.execute(
        select(prompt_names.c.prompt_id)
        .where(prompt_names.c.prompt_id.in_(tagged))
        .order_by(prompt_names.c.prompt_id)
        .with_for_update()
    )
    return sorted((await session.execute(tagged)).scalars(), key=str)


async def no_clashes(session: AsyncSession, tag_id: UUID) -> list[str]:
    """A prompt without a tag clashes with nothing."""
    return []


# --- classes and tags (same shape: id, unique name) ------------------------------------------

Users = Callable[[AsyncSession, UUID], Awaitable[list[UUID]]]
Clashes = Callable[[AsyncSession, UUID], Awaitable[list[str]]]


@dataclass(frozen=True)
class _Lookup:
    """Where one kind's live terms are kept, and who uses a term. ``extra`` is the column of
    the kind's extra attribute, if kept (a class's description lives in its stream only)."""

    table: Table
    id: Column[Any]
    extra: Column[Any] | None
    users: Users
    clashes: Clashes


_LOOKUPS = {
    "classes": _Lookup(classes, classes.c.class_id, None, lock_prompts_in_class, classless_clashes),
    "tags": _Lookup(tags, tags.c.tag_id, tags.c.color, lock_prompts_tagged, no_clashes),
}


class PostgresTermLookups:
    """``TermLookups`` on the ``classes`` or the ``tags`` table."""

    def __init__(self, session: AsyncSession, lookup: _Lookup, project: str) -> None:
        self._session = session
        self._lookup = lookup
        self._table = lookup.table
        self._id = lookup.id
        self._in_project = lookup.table.c.project_id == project
        self._project = project

    def _values(self, name: str, extra: str) -> dict[str, object]:
        column = self._lookup.extra
        return {"name": name} if column is None else {"name": name, column.name: extra}

    async def lock(self, term_id: UUID) -> bool:
        """``FOR UPDATE``: a rename, a recolour or a delete of a class or tag."""
        query = select(self._id).where(self._id == term_id, self._in_project).with_for_update()
        return (await self._session.execute(query)).first() is not None

    async def share(self, term_ids: Sequence[UUID]) -> set[UUID]:
        """``FOR KEY SHARE`` on classes or tags about to be attached; returns the existing ones."""
        if not term_ids:
            return set()
        query = (
            select(self._id)
            .where(self._id.in_(term_ids), self._in_project)
            .order_by(self._id)
            .with_for_update(read=True, key_share=True)
        )
        return set((await self._session.execute(query)).scalars())

    async def ids_by_name(self, names: Sequence[str]) -> dict[str, UUID]:
        query = select(self._table.c.name, self._id).where(
            self._table.c.name.in_(names), self._in_project
        )
        return {name: term_id for name, term_id in await self._session.execute(query)}

    async def name_of(self, term_id: UUID) -> str | None:
        query = select(self._table.c.name).where(self._id == term_id, self._in_project)
        name: str | None = await self._session.scalar(query)
        return name

    async def claim(self, term_id: UUID, name: str, extra: str) -> bool:
        """Inserts a class or tag row; False when its name is taken."""
        values = {self._id.name: term_id, "project_id": self._project, **self._values(name, extra)}
        claimed = await self._session.execute(
            pg_insert(self._table).values(**values).on_conflict_do_nothing().returning(self._id)
        )
        return claimed.first() is not None

    async def update(self, term_id: UUID, name: str, extra: str) -> bool:
        """False when the new name is taken."""
        values = self._values(name, extra)
        statement = update(self._table).where(self._id == term_id).values(**values)
        return await _update_unless_taken(self._session, statement)

    async def delete(self, term_id: UUID) -> None:
        await self._session.execute(delete(self._table).where(self._id == term_id))

    async def lock_users(self, term_id: UUID) -> list[UUID]:
        return await self._lookup.users(self._session, term_id)

    async def detach_clashes(self, term_id: UUID) -> list[str]:
        return await self._lookup.clashes(self._session, term_id)
