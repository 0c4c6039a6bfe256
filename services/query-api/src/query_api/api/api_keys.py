"""/api/v1/api-keys: API keys, managed by a key with the ``admin`` scope (see ``auth``).

Keys are query-api's own state (not events): created here, stored as digests, revoked here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response

from promptworks_contracts.api.api_keys import CreateApiKeyRequest
from promptworks_eventkit.errors import DomainError, NotFoundError
from query_api.api import paging
from query_api.api.deps import CURSOR_HEADERS, principal_of
from query_api.auth.projects import ProjectStore
from query_api.auth.store import KeyStore
from query_api.schemas.api_keys import ApiKeyList, ApiKeyOut, CreatedApiKey

router = APIRouter(prefix="/api-keys", tags=["api keys"])

KeyId = Annotated[UUID, Path(description="The key's id")]


def _store(request: Request) -> KeyStore:
    store: KeyStore = request.app.state.keys
    return store


def _projects(request: Request) -> ProjectStore:
    store: ProjectStore = request.app.state.projects
    return store


@router.post(
    "",
    status_code=201,
    summary="Create an API key; its secret is in this answer only",
    responses={422: {"description": "A rule refused the body (e.g. an expiry in the past)"}},
)
async def create_key(
    request: Request, response: Response, body: CreateApiKeyRequest
) -> CreatedApiKey:
    if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
        raise DomainError("expires_at must be in the future", field="expires_at", rule="future")
    missing = await _projects(request).missing(body.projects)
    if missing:
        index = body.projects.index(missing[0])
        raise DomainError(
            f"project {missing[0]!r} does not exist; create it first (POST /api/v1/projects)",
            field=f"projects.{index}",
            rule="not_found",
        )
    secret, row = await _store(request).create(body, principal_of(request).actor)
    response.headers["Location"] = f"{request.url.path}/{row['id']}"
    response.headers["Cache-Control"] = "no-store"
    return CreatedApiKey(**ApiKeyOut.of(row).model_dump(), secret=secret)


@router.get("", responses={200: {"headers": CURSOR_HEADERS}}, summary="Every API key, newest first")
async def list_keys(
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: paging.Offset = 0,
    cursor: paging.CursorParam = None,
) -> ApiKeyList:
    first = paging.start(request, "api-keys", offset, cursor)
    total, rows = await _store(request).list(limit, first)
    paging.finish(response, request, "api-keys", first, len(rows), total)
    return ApiKeyList(items=[ApiKeyOut.of(row) for row in rows])


@router.get("/{key_id}", summary="One API key")
async def get_key(request: Request, key_id: KeyId) -> ApiKeyOut:
    row = await _store(request).get(key_id)
    if row is None:
        raise NotFoundError(f"API key {key_id} does not exist", field="key_id")
    return ApiKeyOut.of(row)


@router.delete(
    "/{key_id}",
    summary="Revoke an API key (at once; the row stays, with who revoked it and when)",
)
async def revoke_key(request: Request, key_id: KeyId) -> ApiKeyOut:
    row = await _store(request).revoke(key_id, principal_of(request).actor)
    if row is None:
        raise NotFoundError(f"API key {key_id} does not exist", field="key_id")
    return ApiKeyOut.of(row)
