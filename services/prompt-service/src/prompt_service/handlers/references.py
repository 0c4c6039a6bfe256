"""Resolves the class and tags a prompt command names into ids that exist, inside its transaction.

A class or tag the prompt does not have yet is shared (``FOR KEY SHARE`` on PostgreSQL, see
``adapters.postgres``), so it cannot be deleted before this command commits. A ``class_name``
that names no class creates the class in the same transaction (one ``PromptClassCreated`` on
the new class's stream).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from uuid import UUID

from prompt_service.domain.commands import ClassRef, TagRefs
from prompt_service.domain.taxonomy import CLASS, TAG, create_term
from prompt_service.handlers.ports import PromptTx
from promptworks_eventkit.errors import ConflictError, DomainError

_ATTEMPTS = 3


async def resolve_class(
    tx: PromptTx, ref: ClassRef, current: UUID | None, actor: str
) -> UUID | None:
    """The class's id (``None``: no class); 422 ``class_id`` ``not_found`` for an unknown id."""
    if ref.class_id is not None:
        if ref.class_id != current and not await tx.repos.terms(CLASS).share([ref.class_id]):
            raise DomainError(
                f"class {ref.class_id} does not exist", field="class_id", rule="not_found"
            )
        return ref.class_id
    if ref.class_name is None:
        return None
    return await _class_by_name(tx, ref.class_name, current, actor)


async def _class_by_name(tx: PromptTx, name: str, current: UUID | None, actor: str) -> UUID:
    # Each step either finds a live class or creates one; a class deleted or created by another
    # transaction between the steps sends us round once more.
    classes = tx.repos.terms(CLASS)
    for _ in range(_ATTEMPTS):
        found = (await classes.ids_by_name([name])).get(name)
        if found is not None:
            if found == current or await classes.share([found]):
                return found
            continue
        class_id = uuid.uuid4()
        if await classes.claim(class_id, name, ""):
            await tx.append(str(class_id), create_term(CLASS, class_id, name, "", actor), 0)
            return class_id
    raise ConflictError(
        f"class {name!r} kept changing concurrently; nothing was written, retry the request",
        field="class_name",
        rule="concurrent_update",
    )


async def resolve_tags(tx: PromptTx, refs: TagRefs, current: Sequence[UUID]) -> tuple[UUID, ...]:
    """The tags' ids in the order given; 422 naming ``tags.<i>`` or ``tag_ids.<i>`` if unknown."""
    if refs.names is not None:
        field = "tags"
        by_name = await tx.repos.terms(TAG).ids_by_name(list(refs.names))
        for index, name in enumerate(refs.names):
            if name not in by_name:
                raise DomainError(
                    f"tag {name!r} does not exist; create it first (POST /prompt-tags)",
                    field=f"tags.{index}",
                    rule="not_found",
                )
        ids = [by_name[name] for name in refs.names]
    else:
        field = "tag_ids"
        ids = list(refs.tag_ids or ())
    new = [tag_id for tag_id in dict.fromkeys(ids) if tag_id not in current]
    existing = await tx.repos.terms(TAG).share(new)
    for index, tag_id in enumerate(ids):
        if tag_id in new and tag_id not in existing:
            shown = refs.names[index] if refs.names is not None else str(tag_id)
            raise DomainError(
                f"tag {shown!r} does not exist", field=f"{field}.{index}", rule="not_found"
            )
    return tuple(ids)
