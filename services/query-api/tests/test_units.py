"""Unit tests of the pure parts: the variables report's fast path, stream-order levels, what a
forwarded write waits for, the answer to a render missing variables."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import PromptCreated, PromptVersionCreated
from promptworks_contracts.values import ChatMessage, ChatTemplate, TextTemplate, VariableSpec
from promptworks_eventkit.http import PositionOut, install_edge
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import stream_levels
from promptworks_eventkit.settings import ServiceSettings
from promptworks_eventkit.templating import TemplateError, check
from query_api import writes
from query_api.api.errors import install_render_error_handler
from query_api.projections.variables import used_variables, variables_report
from query_api.queries.render import MissingVariablesError

TEMPLATES = [
    "no variables at all",
    "Hello {{ name }}",
    "{{name}}{{ other }} and {{  name  }}",
    "{{- trimmed -}} text",
    'JSON {"a": {"b": 1}} with {{ value }}',
    "{{ true }} {{ None }} {{ x }}",
    "{{ user.name }} {{ items[0] }}",
    "{{ name | upper }}",
    "{% if flag %}{{ a }}{% else %}{{ b }}{% endif %}",
    "{% for item in items %}{{ item }}{{ loop.index }}{% endfor %}",
    "{# a comment #}{{ kept }}",
    "{{{ weird }}}",
    "{{ '{{' }} literal",
    "a } b }} c { d",
]


def outcome(source: str, parse: Callable[[str], frozenset[str]]) -> frozenset[str] | str:
    try:
        return parse(source)
    except TemplateError:
        return "invalid"


@pytest.mark.parametrize("source", TEMPLATES)
def test_the_fast_path_agrees_with_the_template_parser(source: str) -> None:
    used_variables.cache_clear()
    expected = outcome(source, lambda s: check(s).used_variables)
    assert outcome(source, used_variables) == expected


def test_invalid_templates_are_reported_not_raised() -> None:
    with pytest.raises(TemplateError):
        used_variables("{{ unclosed ")
    report = variables_report(TextTemplate(text="{% if %}"), [])
    assert report["undeclared"] == [] and "line 1" in report["error"]


def test_the_report_covers_every_chat_message() -> None:
    template = ChatTemplate(
        messages=[
            ChatMessage(role="system", content="Be {{ tone }}"),
            ChatMessage(role="user", content="{{ question }}"),
        ]
    )
    declared = [VariableSpec(name="question"), VariableSpec(name="extra")]
    assert variables_report(template, declared) == {"undeclared": ["tone"], "unused": ["extra"]}


def received(event: PromptCreated | PromptVersionCreated, version: int) -> ReceivedEvent:
    envelope = Envelope(
        id=uuid.uuid4(),
        type=event.event_type,
        source="/tests",
        subject=event.stream_id(),
        time=datetime.now(UTC),
        correlationid="tests",
        streamversion=version,
    )
    return ReceivedEvent("promptworks.prompt", 0, version, envelope, event)


def test_levels_keep_each_streams_order_and_group_types() -> None:
    a, b = (PromptCreated(prompt_id=uuid.uuid4(), name=n) for n in "ab")

    def version(prompt: PromptCreated, number: int) -> PromptVersionCreated:
        return PromptVersionCreated(
            prompt_id=prompt.prompt_id,
            version_id=uuid.uuid4(),
            number=number,
            template=TextTemplate(text="x"),
        )

    batch = [
        received(a, 1), received(version(a, 1), 2), received(b, 1), received(version(b, 1), 2),
        received(version(b, 2), 3), received(a.model_copy(), 3),
    ]  # fmt: skip
    found = stream_levels(batch)
    as_pairs = [[(e.envelope.subject, e.envelope.streamversion) for e in level] for level in found]
    sa, sb = str(a.prompt_id), str(b.prompt_id)
    # A's created | A's version, B's created | B's two versions... each stream in order.
    assert as_pairs == [[(sa, 1), (sb, 1)], [(sa, 2), (sb, 2), (sb, 3)], [(sa, 3)]]
    assert {e.envelope.type for e in found[0]} == {a.event_type}


def test_a_write_waits_for_the_positions_answer_only() -> None:
    answer = {"positions": [{"stream_id": "a", "stream_version": 3}], "stream_version": 3}
    assert writes._positions(answer) == [PositionOut(stream_id="a", stream_version=3)]
    assert writes._positions({"stream_version": 3}) is None  # no fallback: passed through
    assert writes._positions({"positions": [{"stream_id": "a"}]}) is None


async def test_missing_variables_are_one_error_each_located_in_the_body() -> None:
    app = FastAPI()
    install_edge(app, ServiceSettings())
    install_render_error_handler(app)

    @app.post("/prompts/{prompt_id}/render")
    async def render(prompt_id: str) -> None:
        raise MissingVariablesError(["name", "greeting"])

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://query-api") as client:
        response = await client.post("/prompts/p/render", json={"variables": {}})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:promptworks:problem:invalid-input",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "variables.name: variable 'name' is required and has no default (and 1 more)",
        "errors": [
            {
                "loc": ["body", "variables", name],
                "field": f"variables.{name}",
                "type": "missing",
                "msg": f"variable {name!r} is required and has no default",
            }
            for name in ("name", "greeting")
        ],
    }
