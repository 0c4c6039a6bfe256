"""A small synchronous client of query-api's public API (``/api/v1``): problem details become
``ApiError``, lists are followed through ``X-Next-Cursor``, live progress is read from the
server-sent events and resumed with ``Last-Event-ID`` when the connection drops."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from promptworks_cli.config import Config

API = "/api/v1"


class ApiError(Exception):
    """The API refused or failed: its problem details (RFC 9457), or the transport error."""

    def __init__(self, status: int, title: str, detail: str, errors: list[Any]) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status = status
        self.errors = errors


@dataclass(frozen=True)
class Event:
    name: str
    id: str | None
    data: Any


class Client:
    def __init__(self, config: Config, timeout: float = 30.0) -> None:
        # No X-Actor: with API keys the actor is the key's name, as it should be.
        headers = {"User-Agent": "promptworks-cli"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        if config.project:
            headers["X-Project"] = config.project
        self._http = httpx.Client(base_url=config.url + API, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ApiError(0, "unreachable", f"{self._http.base_url}{path}: {error}", []) from error
        _raise_for_problem(response)
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=_clean(params))

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, json=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def pages(self, path: str, limit: int = 200, **params: Any) -> Iterator[Any]:
        """Every item of a list, page after page (the cursor carries the filters)."""
        query: dict[str, Any] = {**_clean(params), "limit": limit}
        while True:
            try:
                response = self._http.get(path, params=query)
            except httpx.HTTPError as error:
                raise ApiError(0, "unreachable", str(error), []) from error
            _raise_for_problem(response)
            body = response.json()
            yield from body["items"] if isinstance(body, dict) else body
            cursor = response.headers.get("X-Next-Cursor")
            if not cursor:
                return
            query = {"limit": limit, "cursor": cursor}

    def lines(self, path: str, **params: Any) -> Iterator[Any]:
        """The documents of an NDJSON answer, one per line, as they arrive."""
        timeout = httpx.Timeout(30.0, read=300.0)
        try:
            with self._http.stream("GET", path, params=_clean(params), timeout=timeout) as answer:
                if answer.status_code >= 400:
                    answer.read()
                    _raise_for_problem(answer)
                for line in answer.iter_lines():
                    if line:
                        yield json.loads(line)
        except httpx.HTTPError as error:
            raise ApiError(0, "unreachable", f"{path}: {error}", []) from error

    def events(self, path: str, retries: int = 20) -> Iterator[Event]:
        """The events of a live stream until its ``end`` event; a dropped connection is
        resumed after the last event seen."""
        last: str | None = None
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = last
            try:
                with self._http.stream(
                    "GET", path, headers=headers, timeout=httpx.Timeout(30.0, read=120.0)
                ) as response:
                    if response.status_code == 204:
                        return
                    if response.status_code >= 400:
                        response.read()
                        _raise_for_problem(response)
                    for event in _parse(response.iter_lines()):
                        failures = 0
                        last = event.id or last
                        yield event
                        if event.name == "end":
                            return
            except httpx.HTTPError:
                pass
            failures += 1
            if failures > retries:
                raise ApiError(0, "stream lost", f"{path}: gave up after {retries} retries", [])
            time.sleep(min(2.0, 0.2 * failures))


def _parse(lines: Iterator[str]) -> Iterator[Event]:
    name, ident, data = "message", None, list[str]()
    for line in lines:
        if line == "":
            if data:
                yield Event(name, ident, json.loads("\n".join(data)))
            name, ident, data = "message", None, list[str]()
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "id":
            ident = value
        elif field == "data":
            data.append(value)


def _raise_for_problem(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    raise ApiError(
        response.status_code,
        str(problem.get("title") or response.reason_phrase),
        str(problem.get("detail") or ""),
        list(problem.get("errors") or []),
    )


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}
