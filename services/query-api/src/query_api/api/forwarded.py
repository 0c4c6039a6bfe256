"""Building forwarded writes: the command service's URL for a public path, and the docs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import Request

from promptworks_contracts.topics import EVALUATION_EVENTS, PROMPT_EVENTS
from query_api.api.deps import API_PREFIX
from query_api.settings import QueryApiSettings
from query_api.writes import Reader, WriteTarget

PROMPT_SERVICE = "prompt-service"

WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Recorded by the command service, not yet visible here: poll the resource"
    },
    404: {"description": "The resource in the path does not exist"},
    409: {"description": "A rule or If-Match refused it; `errors` names the field and rule"},
    422: {"description": "The command service refused the body; `errors` names the field"},
    502: {"description": "The command service failed mid-request; read back before retrying"},
    503: {"description": "The command service is unreachable; nothing was written"},
    504: {"description": "The command service did not answer in time; read back first"},
}


def same_path_target(
    service: str,
    base_url: str,
    topic: str,
    request: Request,
    read: Reader | None,
    *,
    resource_id: UUID | None = None,
    id_fields: tuple[str, ...] = (),
    location: str | None = None,
) -> WriteTarget:
    """The same path (without /api/v1) and query string on a command service. The path is
    taken as it came, still percent-encoded: decoded, a label such as ``%12`` would be a
    control character that no URL may carry."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path = raw_path.decode("latin-1").removeprefix(API_PREFIX)
    query = f"?{request.url.query}" if request.url.query else ""
    return WriteTarget(
        service=service,
        url=f"{base_url.rstrip('/')}{path}{query}",
        topic=topic,
        read=read,
        resource_id=resource_id,
        id_fields=id_fields,
        location=location,
    )


def prompt_service_target(
    request: Request,
    settings: QueryApiSettings,
    read: Reader | None,
    *,
    resource_id: UUID | None = None,
    id_fields: tuple[str, ...] = (),
    location: str | None = None,
) -> WriteTarget:
    return same_path_target(
        PROMPT_SERVICE,
        settings.prompt_service_url,
        PROMPT_EVENTS,
        request,
        read,
        resource_id=resource_id,
        id_fields=id_fields,
        location=location,
    )


EVALUATOR = "evaluator"


def evaluator_target(
    request: Request,
    settings: QueryApiSettings,
    read: Reader | None,
    *,
    resource_id: UUID | None = None,
    id_fields: tuple[str, ...] = (),
    location: str | None = None,
) -> WriteTarget:
    """On the evaluator, which owns evaluator definitions."""
    return same_path_target(
        EVALUATOR,
        settings.evaluator_url,
        EVALUATION_EVENTS,
        request,
        read,
        resource_id=resource_id,
        id_fields=id_fields,
        location=location,
    )


def evaluator_run_target(
    settings: QueryApiSettings, run_id: UUID, resource: str, read: Reader, id_field: str
) -> WriteTarget:
    """A request about one run that the evaluator records (``resource``: ``evaluations`` or
    ``advice``), answered with the new resource read from query-api's models."""
    return WriteTarget(
        service=EVALUATOR,
        url=f"{settings.evaluator_url.rstrip('/')}/runs/{run_id}/{resource}",
        topic=EVALUATION_EVENTS,
        read=read,
        id_fields=(id_field,),
        location=f"{API_PREFIX}/test_prompt/{run_id}/{resource}/{{id}}",
    )
