"""Each prompt's list document, stored: ``prompt_documents`` (ADR 0027); and the search lexicon.

A document (``PromptOut`` as the list answers it) is made of the prompt's row, its current
version, its version list, its class's name and its tags' names and colours. After a batch's
handlers (``ProjectionRouter``, same transaction) ``render_batch`` re-renders every document
the batch touched with ONE statement that has PostgreSQL build them from the rows
(``prompt_json``, the renderer the list used per read before, so the stored JSON is the same
bytes): the prompts of its prompt events, and every prompt naming a class or tag of its class
and tag events, whatever their number (over the class index and the tags' GIN index). Once per
batch, not per handler: a prompt created with its versions and labels in one batch is
rendered once.

Classes and tags are other streams, applied by whichever consumer owns their partition, maybe
at the same time as a prompt's event elsewhere. So that neither side renders with the other's
state from before it committed, renders take a transaction-scoped advisory lock: a batch with
class or tag events exclusively, before its handlers change a catalogue row
(``before_handlers``); any other batch shared, just before it renders. A catalogue change
therefore waits for the prompt transactions rendering now, and renders after them with their
rows visible; a prompt batch rendering later waits for it and sees the new names. Names
arriving after the prompts that use them re-render those prompts, so no order of arrival
leaves a stale name behind.

The same step keeps each touched prompt's search tokens (``prompt_tokens``, ADR 0032).

Created and edited prompts also add their words to ``prompt_words`` (the search lexicon), and
a batch whose edits may drop words (a name or author changed) deletes, after its handlers, those
of the edited prompts' previous words that no prompt has any more (``forget_words``: a probe
of ``ix_prompts_words`` per word the edited prompts no longer have). Such a batch takes the
render lock exclusively before its handlers, as a catalogue batch does: every prompt batch
learns its words under the lock shared, so the deletion waits for the batches learning now and
sees their prompts; a batch learning later relearns a word deleted under it. Archived prompts
keep their words (``archived=all`` searches them); prompts are never deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, delete, func, or_, select, text, true
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import (
    DomainEvent,
    PromptArchived,
    PromptClassCreated,
    PromptClassDeleted,
    PromptClassUpdated,
    PromptCreated,
    PromptCurrentVersionSet,
    PromptLabelMoved,
    PromptLabelRemoved,
    PromptMetadataEdited,
    PromptRestored,
    PromptTagCreated,
    PromptTagDeleted,
    PromptTagUpdated,
    PromptVersionCreated,
)
from promptworks_eventkit.messages import ReceivedEvent
from query_api.projections import prompt_json, prompt_tokens
from query_api.projections._util import any_in, any_of
from query_api.projections.batched import execute_batched
from query_api.tables import (
    prompt_classes,
    prompt_documents,
    prompt_versions,
    prompt_words,
    prompts,
)

p = prompts.c
RENDER_KEY = 0x5057_5044  # "PWPD"
"""Advisory lock: shared while prompt events render (and learn words), exclusive while a class
or tag does, or edits forget words."""
_SHARED = text("SELECT pg_advisory_xact_lock_shared(:key)").bindparams(key=RENDER_KEY)
PROMPT_STREAM_EVENTS = (
    PromptCreated,
    PromptVersionCreated,
    PromptMetadataEdited,
    PromptLabelMoved,
    PromptLabelRemoved,
    PromptCurrentVersionSet,
    PromptArchived,
    PromptRestored,
)
"""A prompt's own events: each may change its document."""
_CLASS_EVENTS = (PromptClassCreated, PromptClassUpdated, PromptClassDeleted)
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


def _render_prompts() -> Any:
    return render_statement(any_in(p.prompt_id, "prompts"))


def _learn_prompts() -> Any:
    return learn_words(any_in(p.prompt_id, "learned"))


def learn_words(where: ColumnElement[bool]) -> Any:
    """Adds the words of the prompts ``where`` selects to the search lexicon."""
    word = func.unnest(p.words).label("word")
    words = select(word).where(where).subquery("w")
    source = select(words.c.word).distinct().where(words.c.word != "")
    return pg_insert(prompt_words).from_select(["word"], source).on_conflict_do_nothing()


def forget_words(candidates: list[str], edited: list[UUID]) -> Any:
    """Deletes the ``candidates`` no prompt has (any project's, archived or not): those the
    ``edited`` prompts still have are kept without a look; each other one is one probe of
    ``ix_prompts_words`` (which reads the word's whole posting list: the cost grows with the
    number of prompts having it)."""
    w = prompt_words.c
    kept = select(func.unnest(p.words)).where(any_of(p.prompt_id, edited))
    used = select(p.prompt_id).where(p.words.contains(array([w.word]))).exists()
    return delete(prompt_words).where(any_of(w.word, candidates), w.word.not_in(kept), ~used)


_WORDED = frozenset({"name", "author"})
"""The fields ``prompts.words`` is made of."""
_PROMPT, _LEARN, _EDIT, _CLASS, _TAG = range(5)
_KIND: dict[type[DomainEvent], int] = {
    **{kind: _PROMPT for kind in PROMPT_STREAM_EVENTS},
    PromptCreated: _LEARN,
    PromptMetadataEdited: _EDIT,
    **{kind: _CLASS for kind in _CLASS_EVENTS},
    **{kind: _TAG for kind in (PromptTagCreated, PromptTagUpdated, PromptTagDeleted)},
}


@dataclass
class Touched:
    """What a batch's events change of the stored documents (ids in order, once each)."""

    prompts: dict[UUID, None] = field(default_factory=dict)
    learned: dict[UUID, None] = field(default_factory=dict)
    renamed: dict[UUID, None] = field(default_factory=dict)
    """Prompts whose name or author an edit changed: their previous words may go unused."""
    classes: dict[UUID, None] = field(default_factory=dict)
    tags: dict[UUID, None] = field(default_factory=dict)
    previous_words: list[str] = field(default_factory=list)
    """The ``renamed`` prompts' words before the handlers (``before_handlers``)."""

    @property
    def exclusive(self) -> bool:
        """Class or tag events, or edits that may drop words: the batch takes the render lock
        exclusively, before its handlers."""
        return bool(self.classes or self.tags or self.renamed)


def touched(events: Sequence[ReceivedEvent]) -> Touched:
    """One dictionary lookup per event (run and result events are most of them)."""
    found = Touched()
    for received in events:
        kind = _KIND.get(type(received.event))
        if kind is None:
            continue
        subject = UUID(received.envelope.subject)
        if kind == _CLASS:
            found.classes[subject] = None
        elif kind == _TAG:
            found.tags[subject] = None
        else:
            found.prompts[subject] = None
            if kind != _PROMPT:
                found.learned[subject] = None
            if kind == _EDIT and _drops_words(received.event):
                found.renamed[subject] = None
    return found


def _drops_words(event: DomainEvent) -> bool:
    """An edit of the name or author (or one that does not say what it changed)."""
    assert isinstance(event, PromptMetadataEdited)
    return not event.changed or not _WORDED.isdisjoint(event.changed)


async def before_handlers(session: AsyncSession, batch: Touched) -> None:
    """Before a batch's handlers: the render lock exclusively if the batch needs it (until the
    transaction ends), then the words its edits may drop."""
    if batch.exclusive:
        await session.execute(_EXCLUSIVE)
    if batch.renamed:
        word = func.unnest(p.words)
        previous = select(word).where(any_of(p.prompt_id, list(batch.renamed))).distinct()
        batch.previous_words = list((await session.scalars(previous)).all())


async def render_batch(session: AsyncSession, batch: Touched) -> None:
    """After a batch's handlers: the documents it touched (see the module), its prompts' search
    tokens, the words of its created and edited prompts, and its edits' words no prompt has any
    more. A batch that needs the lock exclusively holds it already (``before_handlers``)."""
    where = [
        *([any_of(p.prompt_id, list(batch.prompts))] if batch.prompts else []),
        *([any_of(p.class_id, list(batch.classes))] if batch.classes else []),
        *([p.tag_ids.overlap(list(batch.tags))] if batch.tags else []),
    ]
    if not where:
        return
    if not batch.exclusive:
        await session.execute(_SHARED)
    if batch.classes or batch.tags:
        await session.execute(render_statement(or_(*where)))
    else:  # prompts' own events alone: the usual batch, its statement compiled once
        await execute_batched(session, _render_prompts, params={"prompts": list(batch.prompts)})
    await prompt_tokens.index_batch(session, list(batch.prompts), list(batch.learned))
    if batch.learned:
        await execute_batched(session, _learn_prompts, params={"learned": list(batch.learned)})
    if batch.previous_words:
        await session.execute(forget_words(batch.previous_words, list(batch.renamed)))


async def render_all(session: AsyncSession) -> None:
    """Every prompt's document and search tokens, and the search lexicon made again from every
    prompt's words: what ``render_batch`` leaves after a replay whose batches did not render
    (``build_router(render_documents=False)``; the rebuild's single writer of a new schema).
    The lexicon ``render_batch`` keeps is the words the prompts have (a prompt's words change
    only when it is created or edited: such a batch learns them, and forgets its edits' words
    no prompt has any more; prompts are never deleted), so it is made from them, whatever
    batches of the replay rendered on their own."""
    await session.execute(render_statement(true()))
    await prompt_tokens.index_all(session)
    await session.execute(delete(prompt_words))
    await session.execute(learn_words(true()))
