"""The set-validation tables (see ``tables``), read and written inside a command's transaction.

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
  PostgreSQL still detects becomes a 409 "retry" (see ``handlers.unit_of_work``).
- Renaming a class or tag locks its row ``FOR UPDATE`` and the unique index refuses a taken name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Executable, Table, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from prompt_service.tables import classes, prompt_names, prompt_tags

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


async def lock_prompt(session: AsyncSession, prompt_id: UUID) -> bool:
    """Locks the prompt for this transaction; False when no such prompt exists."""
    query = select(prompt_names.c.prompt_id).where(prompt_names.c.prompt_id == prompt_id)
    return (await session.execute(query.with_for_update())).first() is not None


async def claim_prompt_name(
    session: AsyncSession, prompt_id: UUID, class_id: UUID | None, name: str
) -> bool:
    """False when another prompt already holds ``name`` in that class."""
    claimed = await session.execute(
        pg_insert(prompt_names)
        .values(prompt_id=prompt_id, class_id=class_id, name=name)
        .on_conflict_do_nothing()
        .returning(prompt_names.c.prompt_id)
    )
    return claimed.first() is not None


async def move_prompt_name(
    session: AsyncSession, prompt_id: UUID, class_id: UUID | None, name: str
) -> bool:
    """A rename and/or a move to another class; False when the name is taken there."""
    statement = (
        update(prompt_names)
        .where(prompt_names.c.prompt_id == prompt_id)
        .values(class_id=class_id, name=name)
    )
    return await _update_unless_taken(session, statement)


async def set_prompt_tags(
    session: AsyncSession, prompt_id: UUID, before: Iterable[UUID], after: Iterable[UUID]
) -> None:
    old, new = set(before), set(after)
    if old - new:
        await session.execute(
            delete(prompt_tags).where(
                prompt_tags.c.prompt_id == prompt_id, prompt_tags.c.tag_id.in_(old - new)
            )
        )
    if new - old:
        rows = [{"prompt_id": prompt_id, "tag_id": tag_id} for tag_id in new - old]
        await session.execute(insert(prompt_tags), rows)


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
    classless = select(prompt_names.c.name).where(prompt_names.c.class_id.is_(None))
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


# --- classes and tags (same shape: id, unique name) ------------------------------------------


def _id(table: Table) -> Column[Any]:
    return table.c.class_id if table is classes else table.c.tag_id


async def lock_named(session: AsyncSession, table: Table, row_id: UUID) -> bool:
    """``FOR UPDATE``: a rename, a recolour or a delete of a class or tag."""
    query = select(_id(table)).where(_id(table) == row_id).with_for_update()
    return (await session.execute(query)).first() is not None


async def share_named(session: AsyncSession, table: Table, ids: Sequence[UUID]) -> set[UUID]:
    """``FOR KEY SHARE`` on classes or tags about to be attached; returns the ones that exist."""
    if not ids:
        return set()
    query = (
        select(_id(table))
        .where(_id(table).in_(ids))
        .order_by(_id(table))
        .with_for_update(read=True, key_share=True)
    )
    return set((await session.execute(query)).scalars())


async def ids_by_name(session: AsyncSession, table: Table, names: Sequence[str]) -> dict[str, UUID]:
    query = select(table.c.name, _id(table)).where(table.c.name.in_(names))
    return {name: row_id for name, row_id in await session.execute(query)}


async def name_of(session: AsyncSession, table: Table, row_id: UUID) -> str | None:
    name: str | None = await session.scalar(select(table.c.name).where(_id(table) == row_id))
    return name


async def claim_named(session: AsyncSession, table: Table, values: dict[str, object]) -> bool:
    """Inserts a class or tag row; False when its name is taken."""
    claimed = await session.execute(
        pg_insert(table).values(**values).on_conflict_do_nothing().returning(table.c.name)
    )
    return claimed.first() is not None


async def update_named(
    session: AsyncSession, table: Table, row_id: UUID, values: dict[str, object]
) -> bool:
    """False when the new name is taken."""
    statement = update(table).where(_id(table) == row_id).values(**values)
    return await _update_unless_taken(session, statement)


async def delete_named(session: AsyncSession, table: Table, row_id: UUID) -> None:
    await session.execute(delete(table).where(_id(table) == row_id))
