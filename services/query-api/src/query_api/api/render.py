"""/api/v1/render: the preview of a template not saved yet (the version editor's live view)."""

from __future__ import annotations

from fastapi import APIRouter

from promptworks_contracts.api.prompts import RenderTemplateRequest
from query_api.queries.render import render_draft
from query_api.schemas.prompts import RenderPreviewOut

router = APIRouter(tags=["prompts"])


@router.post(
    "/render",
    response_model=RenderPreviewOut,
    response_model_exclude_none=True,
    summary="Render a template not saved yet with given variables (nothing is written)",
)
async def render_template(body: RenderTemplateRequest) -> RenderPreviewOut:
    """The same sandboxed renderer and limits as a stored version. A template error names
    ``template`` (or ``messages.<i>.content``); each missing variable ``variables.<name>``."""
    return render_draft(body)
