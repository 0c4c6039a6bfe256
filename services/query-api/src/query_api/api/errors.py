"""query-api's one addition to eventkit's error edge (``promptworks_eventkit.http``): a render
missing several required variables answers with one ``errors`` item per variable, each
located and statused exactly as eventkit maps a single ``DomainError``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from promptworks_eventkit.http import error_detail, kind_of, status_of
from promptworks_eventkit.problems import problem
from query_api.queries.render import MissingVariablesError


async def _missing_variables(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, MissingVariablesError)
    detail = [entry for part in error.errors for entry in error_detail(request, part)]
    return problem(status_of(error), detail, kind=kind_of(error))


def install_render_error_handler(app: FastAPI) -> None:
    """More specific than eventkit's ``DomainError`` handler, so it wins for this error."""
    app.add_exception_handler(MissingVariablesError, _missing_variables)
