"""The class and tag resources' commands (create, rename or change, delete): ONE router
factory, given how a kind is served (``TermApi``: ``CLASSES``, ``TAGS``).

Each kind keeps its own paths, bodies, answers and words; the endpoints and the handlers
(``handlers.taxonomy``) are shared.
"""

# No ``from __future__ import annotations`` here: the endpoints' annotations name the factory's
# arguments (``Depends(api.new)``), so FastAPI must get them evaluated, not as strings.

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response

from prompt_service.api.common import Actor, command, written
from prompt_service.api.schemas import WriteResponse
from prompt_service.api.taxonomy_schemas import (
    ClassResponse,
    NewTerm,
    TagResponse,
    TermChange,
    class_change,
    new_class,
    new_tag,
    tag_change,
)
from prompt_service.domain.commands import CreateTerm, DeleteTerm, UpdateTerm
from prompt_service.domain.taxonomy import CLASS, TAG, Kind
from prompt_service.handlers.taxonomy import TaxonomyHandlers, TermWritten
from promptworks_eventkit.http import Context, ExpectedVersion


@dataclass(frozen=True)
class TermApi:
    """How one kind is served: where, with which bodies and answers, documented how."""

    kind: Kind
    prefix: str
    tag: str
    new: Callable[..., Awaitable[NewTerm]]
    """A dependency reading the create body (its type is the kind's request schema)."""
    change: Callable[..., Awaitable[TermChange]]
    """A dependency reading the update body."""
    response: type[WriteResponse]
    create_doc: str
    update_doc: str
    delete_doc: str
    detach_doc: str


CLASSES = TermApi(
    kind=CLASS,
    prefix="/prompt-classes",
    tag="prompt classes",
    new=new_class,
    change=class_change,
    response=ClassResponse,
    create_doc="A new class; its name must be unused (409 otherwise).",
    update_doc="Renames the class and/or changes its description (nothing changed: no event).",
    delete_doc="Deletes an unused class (409 ``in_use`` otherwise), or with ``?detach=true`` "
    "edits each\nprompt out of it first, all in one transaction.",
    detach_doc="Move every prompt out of the class first",
)

TAGS = TermApi(
    kind=TAG,
    prefix="/prompt-tags",
    tag="prompt tags",
    new=new_tag,
    change=tag_change,
    response=TagResponse,
    create_doc="A new tag (name and colour #RRGGBB); its name must be unused (409 otherwise).",
    update_doc="Renames and/or recolours the tag (nothing changed: no event).",
    delete_doc="Deletes an unused tag (409 ``in_use`` otherwise), or with ``?detach=true`` "
    "removes it\nfrom each prompt first (one edit each), all in one transaction.",
    detach_doc="Remove the tag from every prompt first",
)


def taxonomy_router(api: TermApi, handlers: TaxonomyHandlers) -> APIRouter:
    kind = api.kind
    router = APIRouter(prefix=api.prefix, tags=[api.tag])
    item = f"/{{{kind.id_field}}}"

    async def path_id(term_id: Annotated[UUID, Path(alias=kind.id_field)]) -> UUID:
        """The ``/{class_id}`` (``/{tag_id}``) of the path."""
        return term_id

    def answer(result: TermWritten, response: Response) -> WriteResponse:
        state = result.state
        assert state.term_id is not None
        return api.response.model_validate(
            {
                kind.id_field: state.term_id,
                "name": state.name,
                kind.extra: state.extra,
                "deleted": state.deleted,
                "detached_prompt_ids": result.detached,
                "stream_version": state.version,
                "positions": written(response, state.version, result.positions),
            }
        )

    @router.post(
        "",
        status_code=201,
        response_model=api.response,
        name=f"create_{kind.noun}",
        description=api.create_doc,
    )
    async def create(
        context: Context,
        actor: Actor,
        response: Response,
        body: Annotated[NewTerm, Depends(api.new)],
    ) -> WriteResponse:
        cmd = command(lambda: CreateTerm(actor=actor, name=body.name, extra=body.extra))
        return answer(await handlers.create(cmd, context), response)

    @router.patch(
        item, response_model=api.response, name=f"update_{kind.noun}", description=api.update_doc
    )
    async def update(
        context: Context,
        actor: Actor,
        expected: ExpectedVersion,
        response: Response,
        term_id: Annotated[UUID, Depends(path_id)],
        body: Annotated[TermChange, Depends(api.change)],
    ) -> WriteResponse:
        cmd = command(
            lambda: UpdateTerm(
                actor=actor,
                term_id=term_id,
                name=body.name,
                extra=body.extra,
                expected_version=expected,
            )
        )
        return answer(await handlers.update(cmd, context), response)

    @router.delete(
        item, response_model=api.response, name=f"delete_{kind.noun}", description=api.delete_doc
    )
    async def delete(
        context: Context,
        actor: Actor,
        expected: ExpectedVersion,
        response: Response,
        term_id: Annotated[UUID, Depends(path_id)],
        detach: Annotated[bool, Query(description=api.detach_doc)] = False,
    ) -> WriteResponse:
        cmd = command(
            lambda: DeleteTerm(
                actor=actor, term_id=term_id, detach=detach, expected_version=expected
            )
        )
        return answer(await handlers.delete(cmd, context), response)

    return router
