"""/api/v1/test_prompt/{id}/advice: optimisation advice on a finished run from a judge model
(asked through the evaluator, ADR 0024), and saving its proposed revision as a new version of
the run's prompt in one call (forwarded to prompt-service's normal write path, the version
recording the advice it came from)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.api.advice import AdviceRequest, ApplyAdviceRequest
from promptworks_contracts.api.prompts import CreateVersionRequest
from promptworks_contracts.topics import PROMPT_EVENTS
from promptworks_contracts.values import ChatTemplate, VersionOrigin
from promptworks_eventkit.errors import ConflictError, NotFoundError
from query_api.api import paging
from query_api.api.deps import CURSOR_HEADERS, ReadSession, Settings, Writes
from query_api.api.forwarded import PROMPT_SERVICE, WRITE_RESPONSES, evaluator_run_target
from query_api.api.ownership import owned
from query_api.queries import advice as queries
from query_api.queries.prompt_reads import get_prompt
from query_api.queries.runs import run_exists
from query_api.schemas.advice import AdviceOut
from query_api.schemas.prompts import PromptOut
from query_api.tables import prompt_versions, runs
from query_api.writes import WriteTarget

router = APIRouter(
    prefix="/test_prompt",
    tags=["advice"],
    dependencies=[owned(runs, "run_id", "test run")],
)

RunId = Annotated[UUID, Path(description="The run's id")]
AdviceId = Annotated[UUID, Path(description="The advice's id")]


def _missing_run(run_id: UUID) -> NotFoundError:
    return NotFoundError(f"test run {run_id} does not exist", field="run_id")


@router.get(
    "/{run_id}/advice",
    response_model=list[AdviceOut],
    responses={200: {"headers": CURSOR_HEADERS}},
    summary="A run's optimisation advice, newest first",
)
async def list_advice(
    session: ReadSession,
    request: Request,
    response: Response,
    run_id: RunId,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: paging.Offset = 0,
    cursor: paging.CursorParam = None,
) -> list[AdviceOut]:
    first = paging.start(request, "advice", offset, cursor)
    total, items = await queries.list_advice(session, run_id, limit, first)
    if not total and not await run_exists(session, run_id):
        raise _missing_run(run_id)
    paging.finish(response, request, "advice", first, len(items), total)
    return items


async def _one(session: AsyncSession, run_id: UUID, advice_id: UUID) -> AdviceOut:
    found = await queries.get_advice(session, run_id, advice_id)
    if found is None:
        if not await run_exists(session, run_id):
            raise _missing_run(run_id)
        raise NotFoundError(f"run {run_id} has no advice {advice_id}", field="advice_id")
    return found


@router.get("/{run_id}/advice/{advice_id}", summary="One piece of advice")
async def get_advice(session: ReadSession, run_id: RunId, advice_id: AdviceId) -> AdviceOut:
    return await _one(session, run_id, advice_id)


@router.post(
    "/{run_id}/advice",
    status_code=202,
    response_model=AdviceOut,
    summary="Ask a judge model for optimisation advice on a finished run",
    responses={
        **WRITE_RESPONSES,
        409: {
            "description": "The run is not finished (`run_unfinished`) or was evaluated before "
            "advice existed (`run_predates_advice`)"
        },
    },
)
async def ask_for_advice(
    request: Request, writes: Writes, settings: Settings, run_id: RunId, body: AdviceRequest
) -> Response:
    """202 with `status` `requested`: the evaluator asks the judge model (structured output,
    grounded in the run's template, summary and failing results; an unusable answer is asked
    again up to `max_attempts`), then `given` with the advice or `failed` with why. Poll
    `GET .../advice/{id}`."""

    async def read(session: AsyncSession, advice_id: UUID) -> AdviceOut | None:
        return await queries.get_advice(session, run_id, advice_id)

    target = evaluator_run_target(settings, run_id, "advice", read, "advice_id")
    return await writes.forward(request, target)


@router.post(
    "/{run_id}/advice/{advice_id}/apply",
    status_code=201,
    response_model=PromptOut,
    summary="Save the advice's proposed revision as a new version of the run's prompt",
    responses={
        **WRITE_RESPONSES,
        409: {"description": "The advice was not given (`advice_not_given`)"},
    },
)
async def apply_advice(
    request: Request,
    writes: Writes,
    settings: Settings,
    session: ReadSession,
    run_id: RunId,
    advice_id: AdviceId,
    body: ApplyAdviceRequest,
) -> Response:
    """One call: the revision becomes the prompt's new current version (prompt-service's normal
    write path, `If-Match` honoured), with the run's version's variables and model defaults,
    and `origin` naming the advice and the run. Answers the prompt."""
    found = await _one(session, run_id, advice_id)
    if found.status != "given" or found.advice is None or found.prompt_id is None:
        raise ConflictError(
            f"advice {advice_id} was not given (it is {found.status}): nothing to save",
            rule="advice_not_given",
        )
    base = await _version_defaults(session, found.prompt_id, found.prompt_version_number)
    revision = found.advice.prompt_revision
    message = body.commit_message or (
        f"Optimisation advice {advice_id} on run {run_id} "
        f"({found.model.provider}/{found.model.name})"
    )
    version = CreateVersionRequest.model_validate(
        {
            **base,
            **(
                {"messages": [m.model_dump() for m in revision.messages]}
                if isinstance(revision, ChatTemplate)
                else {"content": revision.text}
            ),
            "version": body.label,
            "commit_message": message,
            "origin": VersionOrigin(advice_id=advice_id, run_id=run_id).model_dump(mode="json"),
        }
    )
    prompt_id = found.prompt_id
    target = WriteTarget(
        service=PROMPT_SERVICE,
        url=f"{settings.prompt_service_url.rstrip('/')}/prompts/{prompt_id}/versions",
        topic=PROMPT_EVENTS,
        read=get_prompt,
        resource_id=prompt_id,
        body=version.model_dump_json(exclude_none=True).encode(),
    )
    return await writes.forward(request, target)


async def _version_defaults(
    session: AsyncSession, prompt_id: UUID, number: int | None
) -> dict[str, Any]:
    """The run's version's variables and model defaults, carried into the revision."""
    if number is None:
        return {}
    v = prompt_versions.c
    row = (
        await session.execute(
            select(v.variables, v.default_model, v.default_parameters).where(
                v.prompt_id == prompt_id, v.number == number
            )
        )
    ).first()
    if row is None:
        return {}
    found: dict[str, Any] = {"variables": row.variables}
    if row.default_model is not None:
        found["model"] = row.default_model
    if row.default_parameters is not None:
        found["parameters"] = row.default_parameters
    return found
