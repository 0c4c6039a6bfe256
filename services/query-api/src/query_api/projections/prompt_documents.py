"""Each prompt's list document, stored: ``prompt_documents`` (ADR 0027); and the search lexicon.

A document (``PromptOut`` as the list answers it) is made of the prompt's row, its current
version, its version list, its class's name and its tags' names and colours. Whatever changes
one of them re-renders the documents it touches, in the same transaction, with ONE statement
that has PostgreSQL build them from the rows (``projections.prompt_json``, the renderer the list
used per read before, so the stored JSON is the same bytes):

- every prompt handler (``rendered``): the prompts of its events, after its writes;
- class and tag events (``rendered_catalog``): every prompt naming the class or tag, whatever
  their number (one INSERT ... SELECT over the class index or the tags' GIN index).

Classes and tags are other streams, applied by whichever consumer owns their partition, maybe
at the same time as a prompt's event elsewhere. So that neither side renders with the other's
state from before it committed, renders take a transaction-scoped advisory lock: shared for a
prompt batch, exclusive for a class or tag change. A catalogue change therefore waits for the
prompt transactions rendering now, and renders after them with their rows visible; a prompt
batch that comes later waits for it and sees the new names; a batch with both kinds takes it
exclusively first (``ProjectionRouter``), never shared then exclusive (two such would
deadlock). Names arriving after the prompts that use them re-render those prompts, so no
order of arrival leaves a stale name behind.

Created and edited prompts also add their words to ``prompt_words`` (the search lexicon).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import (
    PromptClassCreated,
    PromptClassDeleted,
    PromptClassUpdated,
    PromptCreated,
    PromptMetadataEdited,
    PromptTagCreated,
    PromptTagDeleted,
    PromptTagUpdated,
)
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import TypeHandler
from query_api.projections import prompt_json
from query_api.projections._util import any_of
from query_api.tables import (
    prompt_classes,
    prompt_documents,
    prompt_versions,
    prompt_words,
    prompts,
)

p = prompts.c
RENDER_KEY = 0x5057_5044  # "PWPD"
"""Advisory lock: shared while prompt events render, exclusive while a class or tag does."""
_SHARED = text("SELECT pg_advisory_xact_lock_shared(:key)").bindparams(key=RENDER_KEY)
_CLASS_EVENTS = (PromptClassCreated, PromptClassUpdated, PromptClassDeleted)
CATALOG_EVENTS = (
    *_CLASS_EVENTS,
    PromptTagCreated,
    PromptTagUpdated,
    PromptTagDeleted,
)
"""The events ``rendered_catalog`` wraps: they take the render lock exclusively."""
_EXCLUSIVE = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=RENDER_KEY)


def render_statement(where: ColumnElement[bool]) -> Any:
    """Upserts the documents of the prompts ``where`` selects (unchanged ones are not
    rewritten)."""
    current = prompt_versions.alias("cv")
    source = (
        select(p.prompt_id, prompt_json.document(current))
        .select_from(
            prompts.outerjoin(prompt_classes, prompt_classes.c.class_id == p.class_id).outerjoin(
                current, current.c.version_id == p.current_version_id
            )
        )
        .where(where)
    )
    statement = pg_insert(prompt_documents).from_select(["prompt_id", "document"], source)
    return statement.on_conflict_do_update(
        index_elements=[prompt_documents.c.prompt_id],
        set_={"document": statement.excluded.document},
        where=prompt_documents.c.document.is_distinct_from(statement.excluded.document),
    )


def learn_words(where: ColumnElement[bool]) -> Any:
    """Adds the words of the prompts ``where`` selects to the search lexicon."""
    word = func.unnest(p.words).label("word")
    words = select(word).where(where).subquery("w")
    source = select(words.c.word).distinct().where(words.c.word != "")
    return pg_insert(prompt_words).from_select(["word"], source).on_conflict_do_nothing()


async def render(session: AsyncSession, prompt_ids: Sequence[UUID]) -> None:
    """The documents of these prompts, from their rows as this transaction sees them."""
    if prompt_ids:
        await session.execute(_SHARED)
        await session.execute(render_statement(any_of(p.prompt_id, prompt_ids)))


def rendered(handler: TypeHandler[AsyncSession]) -> TypeHandler[AsyncSession]:
    """A prompt handler, then its prompts' documents re-rendered."""

    async def handle(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
        await handler(session, events)
        ids = list({UUID(e.envelope.subject): None for e in events})
        await render(session, ids)
        if isinstance(events[0].event, PromptCreated | PromptMetadataEdited):
            await session.execute(learn_words(any_of(p.prompt_id, ids)))

    return handle


async def lock_for_catalog(session: AsyncSession) -> None:
    """The render lock, exclusively, until the transaction ends (taken again: a no-op)."""
    await session.execute(_EXCLUSIVE)


def rendered_catalog(handler: TypeHandler[AsyncSession]) -> TypeHandler[AsyncSession]:
    """A class or tag handler, then the documents of every prompt naming them re-rendered."""

    async def handle(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
        await lock_for_catalog(session)  # before the catalogue row changes: see the module
        await handler(session, events)
        ids = list({UUID(e.envelope.subject): None for e in events})  # class or tag ids
        if isinstance(events[0].event, _CLASS_EVENTS):
            naming = any_of(p.class_id, ids)
        else:
            naming = p.tag_ids.overlap(ids)
        await session.execute(render_statement(naming))

    return handle
