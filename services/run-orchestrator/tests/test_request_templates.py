"""Requests built from a template (providers/templates.py) are the SDK's own requests: same
method, URL, headers in the same order, body and timeout; anything beyond a JSON body is built
by the SDK. An SDK upgrade that changes how requests are built fails here."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import openai
from anthropic._models import FinalRequestOptions as AnthropicOptions
from openai._models import FinalRequestOptions

from run_orchestrator.providers.anthropic_messages import TemplatedAsyncAnthropic
from run_orchestrator.providers.openai_compat import TemplatedAsyncOpenAI
from run_orchestrator.providers.templates import RequestTemplates

BASE_URL = "http://127.0.0.1:9/v1"
KEY = "sk-template-test"


def clients() -> tuple[openai.AsyncOpenAI, TemplatedAsyncOpenAI]:
    settings: dict[str, Any] = {
        "base_url": BASE_URL,
        "api_key": KEY,
        "max_retries": 0,
        "timeout": 30.0,
    }
    return openai.AsyncOpenAI(**settings), TemplatedAsyncOpenAI(**settings)


def options(body: Any, **extra: Any) -> FinalRequestOptions:
    return FinalRequestOptions.construct(
        method="post", url="/chat/completions", json_data=body, **extra
    )


def facts(request: httpx2.Request) -> tuple[Any, ...]:
    return (
        request.method,
        str(request.url),
        request.headers.multi_items(),
        request.content,
        request.extensions,
    )


def test_templated_requests_equal_the_sdks_for_every_body_and_retry_count() -> None:
    sdk, templated = clients()
    bodies = [
        {"model": "m", "messages": [{"role": "user", "content": "Hello"}]},
        {"model": "m", "messages": [{"role": "user", "content": "Grüß dich, 🌍"}], "seed": 7},
        {"model": "other", "messages": [], "stop": ["END"], "temperature": 0.5},
    ]
    for retries in (0, 1):
        for body in bodies:
            expected = sdk._build_request(options(body), retries_taken=retries)
            built = templated._build_request(options(body), retries_taken=retries)
            assert facts(built) == facts(expected)
    assert ("user-agent", f"AsyncOpenAI/Python {openai.__version__}") in (
        templated._build_request(options(bodies[0])).headers.multi_items()
    )


def test_requests_with_more_than_a_json_body_are_built_by_the_sdk() -> None:
    sdk, templated = clients()
    body = {"model": "m", "messages": []}
    templated._build_request(options(body))  # the path's template exists
    for extra in (
        {"headers": {"X-Trace": "abc"}},
        {"params": {"api-version": "2024-10-21"}},
        {"timeout": 5.0},
        {"extra_json": {"logprobs": True}},
    ):
        expected = sdk._build_request(options(body, **extra))
        assert facts(templated._build_request(options(body, **extra))) == facts(expected)


def test_only_the_first_request_per_path_and_retry_count_is_built_by_the_sdk() -> None:
    templates = RequestTemplates()
    sdk, _ = clients()
    built: list[int] = []

    def build(body: dict[str, Any], retries: int) -> httpx2.Request:
        def with_sdk() -> httpx2.Request:
            built.append(retries)
            return sdk._build_request(options(body), retries_taken=retries)

        return templates.build(options(body), retries, with_sdk)

    for i in range(5):
        assert build({"n": i}, 0).content == f'{{"n":{i}}}'.encode()
    build({"n": 0}, 1)
    build({"n": 1}, 1)
    assert built == [0, 1]


def test_anthropic_templated_requests_equal_the_sdks() -> None:
    settings: dict[str, Any] = {"base_url": BASE_URL, "api_key": KEY, "max_retries": 0}
    sdk, templated = anthropic.AsyncAnthropic(**settings), TemplatedAsyncAnthropic(**settings)
    for retries in (0, 1):
        for text in ("Hello", "Grüß dich", "third"):
            body = {"model": "c", "max_tokens": 16, "messages": [{"role": "user", "content": text}]}
            options = AnthropicOptions.construct(method="post", url="/v1/messages", json_data=body)
            expected = sdk._build_request(options, retries_taken=retries)
            assert facts(templated._build_request(options, retries_taken=retries)) == facts(
                expected
            )
