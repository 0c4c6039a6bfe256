"""Every route's endpoint and dependencies are coroutines: FastAPI runs a plain ``def`` in its
threadpool, a hop to another thread and back on every request (~0.25 ms of CPU each on the
development machine, and the first one imports anyio's backend and starts the pool). The
dependencies here read request state and headers; none blocks."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import SecretStr

from evaluator.app import create_app as evaluator_app
from evaluator.settings import EvaluatorSettings
from prompt_service.app import create_app as prompt_service_app
from prompt_service.settings import PromptServiceSettings
from query_api.app import create_app as query_api_app
from query_api.settings import QueryApiSettings
from run_orchestrator.app import create_app as run_orchestrator_app
from run_orchestrator.settings import RunOrchestratorSettings

UNREACHABLE = SecretStr("postgresql+asyncpg://promptworks:x@127.0.0.1:1/none")

SERVICES: dict[str, Callable[[], FastAPI]] = {
    "query-api": lambda: query_api_app(QueryApiSettings(database_url=UNREACHABLE)),
    "prompt-service": lambda: prompt_service_app(PromptServiceSettings(database_url=UNREACHABLE)),
    "run-orchestrator": lambda: run_orchestrator_app(
        RunOrchestratorSettings(database_url=UNREACHABLE)
    ),
    "evaluator": lambda: evaluator_app(EvaluatorSettings(database_url=UNREACHABLE)),
}


def _is_coroutine(call: Any) -> bool:
    target = call if inspect.isfunction(call) or inspect.ismethod(call) else call.__call__
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def _api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, also those of included routers (kept inside FastAPI's own route
    objects) and mounts."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None) or route
        yield from _api_routes(getattr(inner, "routes", None) or ())


def _dependencies(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _dependencies(sub)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_routes_run_on_the_event_loop(service: str) -> None:
    """Creating the app opens no connection (start-up work is in its lifespan)."""
    app = SERVICES[service]()
    routes = list(_api_routes(app.routes))
    assert len(routes) > 10
    threaded = sorted(
        {
            f"{route.path}: {getattr(call, '__qualname__', repr(call))}"
            for route in routes
            for call in [route.endpoint, *_dependencies(route.dependant)]
            if not _is_coroutine(call)
        }
    )
    assert threaded == [], threaded
