"""/api/v1/admin/dead-letters: every consumer's dead letters in one list, and their replay.

query-api's own letters are read and replayed here (its consumer runs in this process);
run-orchestrator's and the evaluator's are fetched from, and replays forwarded to, their
``/admin/dead-letters`` routes. A letter is named by its service and its id there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response

from promptworks_eventkit.dead_letters import DeadLetterNotFoundError, DeadLetters
from promptworks_eventkit.dead_letters_api import (
    ADMIN_DEAD_LETTERS,
    ConsumerFilter,
    DeadLetterOut,
    DeadLetterPage,
    LetterId,
    Limit,
    Offset,
    ReplayAllOut,
    StatusFilter,
    letter_out,
    replay_all,
    replay_one,
)
from promptworks_eventkit.errors import NotFoundError
from query_api.api.deps import Settings, Writes
from query_api.forwarding import actor_header
from query_api.settings import QueryApiSettings
from query_api.writes import ForwardedWrites

router = APIRouter(prefix=ADMIN_DEAD_LETTERS, tags=["admin"])

SELF = "query-api"
Service = Literal["query-api", "run-orchestrator", "evaluator"]
SERVICES: tuple[Service, ...] = ("query-api", "run-orchestrator", "evaluator")
ServiceFilter = Annotated[Service | None, Query(description="Only this service's letters")]
ServicePath = Annotated[Service, Path(description="The service that holds the letter")]

RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"description": "A service that holds dead letters is unreachable"},
}


def _actor(request: Request) -> str:
    """Who replays: the API key's owner (as forwarded writes name it)."""
    raw = actor_header(request)
    return raw.decode("utf-8", errors="replace") if raw else "operator"


def _letters(request: Request) -> DeadLetters:
    letters: DeadLetters = request.app.state.runtime.dead_letters()
    return letters


def _base(settings: QueryApiSettings, service: Service) -> str:
    url = settings.run_orchestrator_url if service == "run-orchestrator" else settings.evaluator_url
    return f"{url.rstrip('/')}{ADMIN_DEAD_LETTERS}"


async def _remote_json(
    request: Request, writes: ForwardedWrites, service: Service, url: str, method: str = "GET"
) -> Any:
    response = await writes.fetch(request, service, url, method)
    if response.status_code >= 400:
        return None
    return response.json()


@router.get(
    "",
    response_model=DeadLetterPage,
    summary="Dead letters of every consumer, oldest first, with the reason",
    responses=RESPONSES,
)
async def list_dead_letters(
    request: Request,
    writes: Writes,
    settings: Settings,
    service: ServiceFilter = None,
    status: StatusFilter = "open",
    consumer: ConsumerFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> DeadLetterPage:
    # Each service's first offset+limit letters, merged by time: the page is exact.
    wanted = offset + limit
    items: list[DeadLetterOut] = []
    total = 0
    for name in SERVICES if service is None else (service,):
        if name == SELF:
            own, count = await _letters(request).page(
                status=status, consumer=consumer, limit=wanted, offset=0
            )
            items += [letter_out(SELF, letter) for letter in own]
            total += count
            continue
        query: dict[str, str | int] = {"status": status, "limit": min(wanted, 1000)}
        if consumer is not None:
            query["consumer"] = consumer
        page = await _remote_json(
            request, writes, name, f"{_base(settings, name)}?{urlencode(query)}"
        )
        if page is not None:
            items += [DeadLetterOut.model_validate(i) for i in page["items"]]
            total += int(page["total"])
    items.sort(key=lambda letter: (letter.recorded_at, letter.service, letter.id))
    return DeadLetterPage(items=items[offset:wanted], total=total)


@router.post(
    "/replay",
    response_model=ReplayAllOut,
    summary="Replay every open dead letter (of one service or consumer if given)",
    responses=RESPONSES,
)
async def replay_every_dead_letter(
    request: Request,
    writes: Writes,
    settings: Settings,
    service: ServiceFilter = None,
    consumer: ConsumerFilter = None,
) -> ReplayAllOut:
    out = ReplayAllOut(replayed=[], failed=[])
    for name in SERVICES if service is None else (service,):
        if name == SELF:
            part = await replay_all(SELF, _letters(request), consumer, _actor(request))
        else:
            query = f"?{urlencode({'consumer': consumer})}" if consumer is not None else ""
            body = await _remote_json(
                request, writes, name, f"{_base(settings, name)}/replay{query}", "POST"
            )
            if body is None:
                continue
            part = ReplayAllOut.model_validate(body)
        out.replayed += part.replayed
        out.failed += part.failed
    return out


@router.get(
    "/{service}/{letter_id}",
    response_model=DeadLetterOut,
    summary="One dead letter",
    responses={404: {"description": "No such letter"}, **RESPONSES},
)
async def get_dead_letter(
    request: Request,
    writes: Writes,
    settings: Settings,
    service: ServicePath,
    letter_id: LetterId,
) -> DeadLetterOut | Response:
    if service == SELF:
        try:
            return letter_out(SELF, await _letters(request).get(letter_id))
        except DeadLetterNotFoundError as error:
            raise NotFoundError(f"no dead letter {letter_id}", field="letter_id") from error
    return await writes.relay(request, service, f"{_base(settings, service)}/{letter_id}")


@router.post(
    "/{service}/{letter_id}/replay",
    response_model=DeadLetterOut,
    summary="Replay one dead letter through its consumer (exactly once in effect)",
    responses={
        404: {"description": "No such letter"},
        409: {"description": "Replayed already, or refused as it could not be correct (`detail`)"},
        422: {"description": "The replay failed again; the letter stays open (`detail` says why)"},
        **RESPONSES,
    },
)
async def replay_dead_letter(
    request: Request,
    writes: Writes,
    settings: Settings,
    service: ServicePath,
    letter_id: LetterId,
) -> DeadLetterOut | Response:
    if service == SELF:
        return await replay_one(SELF, _letters(request), letter_id, _actor(request))
    return await writes.relay(request, service, f"{_base(settings, service)}/{letter_id}/replay")
