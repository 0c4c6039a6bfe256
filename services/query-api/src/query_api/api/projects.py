"""/api/v1/projects: the tenants. Any key lists the projects it reaches; an admin creates them.

Projects are query-api's own state (``tables.projects``); ``default`` always exists.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from promptworks_contracts.api.projects import CreateProjectRequest
from promptworks_eventkit.errors import ConflictError
from query_api.api import paging
from query_api.api.deps import CURSOR_HEADERS, principal_of
from query_api.auth.projects import ProjectStore
from query_api.schemas.projects import ProjectList, ProjectOut

router = APIRouter(prefix="/projects", tags=["projects"])


def _store(request: Request) -> ProjectStore:
    store: ProjectStore = request.app.state.projects
    return store


@router.post(
    "",
    status_code=201,
    summary="Create a project",
    responses={409: {"description": "A project with this id exists"}},
)
async def create_project(
    request: Request, response: Response, body: CreateProjectRequest
) -> ProjectOut:
    row = await _store(request).create(body, principal_of(request).actor)
    if row is None:
        raise ConflictError(f"project {body.id!r} already exists", field="id", rule="exists")
    response.headers["Location"] = f"{request.url.path}/{body.id}"
    return ProjectOut.model_validate(row)


@router.get(
    "",
    responses={200: {"headers": CURSOR_HEADERS}},
    summary="The projects the calling key reaches (an admin key: all), by id",
)
async def list_projects(
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: paging.Offset = 0,
    cursor: paging.CursorParam = None,
) -> ProjectList:
    principal = principal_of(request)
    first = paging.start(request, "projects", offset, cursor)
    only = None if principal.is_admin else principal.projects
    total, rows = await _store(request).list(only, limit, first)
    paging.finish(response, request, "projects", first, len(rows), total)
    return ProjectList(items=[ProjectOut.model_validate(row) for row in rows])
