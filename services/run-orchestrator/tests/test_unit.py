"""Unit tests without infrastructure: mock provider, request validation, run planning."""

from __future__ import annotations

import gc
import uuid
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from promptworks_contracts.api.runs import CreateRunRequest
from promptworks_contracts.values import (
    ChatTemplate,
    ModelParameters,
    ModelRef,
    TextTemplate,
    VariableSpec,
)
from promptworks_eventkit.errors import DomainError
from run_orchestrator.api.requests import run_command
from run_orchestrator.domain.caching import cache_key
from run_orchestrator.domain.cases import Case
from run_orchestrator.domain.commands import CreateRun, VersionSelector
from run_orchestrator.domain.planning import RunPlan, plan_run, total_calls
from run_orchestrator.domain.prompt_version import PromptVersion
from run_orchestrator.domain.rendering import Message
from run_orchestrator.execution.collector import YOUNG_THRESHOLD, raise_young_threshold
from run_orchestrator.execution.runner import error_message
from run_orchestrator.providers.base import CompletionRequest, ProviderError
from run_orchestrator.providers.mock import MockProvider
from run_orchestrator.providers.registry import ProviderRegistry
from run_orchestrator.settings import RunOrchestratorSettings


def request(model: str, prompt: str = "Say hi to Ann", case: int = 0, rep: int = 1) -> Any:
    return CompletionRequest(
        model=ModelRef(provider="mock", name=model),
        parameters=ModelParameters(),
        messages=[Message("user", prompt)],
        case_index=case,
        repetition=rep,
    )


async def test_mock_echo_returns_the_prompt_with_word_counts() -> None:
    completion = await MockProvider().complete(request("echo", "Say hi to Ann"))
    assert completion.output == "Say hi to Ann"
    assert completion.usage.prompt_tokens == 4
    assert completion.usage.completion_tokens == 4
    assert completion.usage.total_tokens == 8
    assert completion.finish_reason == "stop"


async def test_mock_answers_are_deterministic_per_model_prompt_case_and_repetition() -> None:
    provider = MockProvider()
    first = (await provider.complete(request("gpt-mock", case=3, rep=2))).output
    again = (await MockProvider().complete(request("gpt-mock", case=3, rep=2))).output
    assert first == again
    assert first.startswith("mock answer ") and len(first) == len("mock answer ") + 16
    others = {
        (await provider.complete(request("gpt-mock", case=4, rep=2))).output,
        (await provider.complete(request("gpt-mock", case=3, rep=1))).output,
        (await provider.complete(request("other-model", case=3, rep=2))).output,
        (await provider.complete(request("gpt-mock", "another prompt", case=3, rep=2))).output,
    }
    assert first not in others and len(others) == 4


async def test_mock_fail_model_always_raises_a_provider_error() -> None:
    with pytest.raises(ProviderError, match="always fails"):
        await MockProvider().complete(request("fail"))


async def test_mock_failure_rate_fails_the_same_deterministic_fraction() -> None:
    provider = MockProvider(failure_rate=0.3)

    async def failed_cases() -> set[int]:
        failed = set()
        for case in range(2000):
            try:
                await provider.complete(request("echo", case=case))
            except ProviderError:
                failed.add(case)
        return failed

    first = await failed_cases()
    assert first == await failed_cases()
    assert 0.25 < len(first) / 2000 < 0.35
    assert not await _failures(MockProvider(failure_rate=0.0))
    assert len(await _failures(MockProvider(failure_rate=1.0))) == 50


async def _failures(provider: MockProvider) -> list[int]:
    failed = []
    for case in range(50):
        try:
            await provider.complete(request("echo", case=case))
        except ProviderError:
            failed.append(case)
    return failed


def test_error_message_names_the_exception_type_and_is_bounded() -> None:
    assert error_message(ProviderError("HTTP 500: boom")) == "HTTP 500: boom"
    assert error_message(TimeoutError("slow")) == "TimeoutError: slow"
    assert len(error_message(ValueError("x" * 5000))) == 1000


BASE = {"prompt_version_id": str(uuid.uuid4())}


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"repetitions": 0}, "repetitions", "greater_than_equal"),
        ({"repetitions": 51}, "repetitions", "less_than_equal"),
        ({"prompt_version_id": "nope"}, "prompt_version_id", "uuid_parsing"),
        ({"temperature": 2.5}, "temperature", "less_than_equal"),
        ({"top_p": 0}, "top_p", "greater_than"),
        ({"cases": [{}] * 10_001}, "cases", "too_long"),
        ({"surprise": 1}, "surprise", "extra_forbidden"),
        ({"provider": "Bad Name"}, "provider", "string_pattern_mismatch"),
        ({"assertions": [{"type": "nope"}]}, "assertions.0", "union_tag_invalid"),
    ],
)
def test_request_validation_names_field_and_rule(
    changes: dict[str, Any], field: str, rule: str
) -> None:
    body = {**BASE, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(ValidationError) as caught:
        CreateRunRequest.model_validate(body)
    error = caught.value.errors()[0]
    assert ".".join(str(p) for p in error["loc"]) == field
    assert error["type"] == rule


def test_request_defaults_and_schema_become_a_command() -> None:
    body = CreateRunRequest.model_validate({**BASE, "schema": {"type": "object"}})
    command = run_command(body)
    assert command.model is None  # the version's default model, else mock echo
    assert command.parameters == {}  # the version's default parameters
    assert command.repetitions == 1 and command.cases == []
    assert [a.type for a in command.assertions] == ["json_schema"]
    assert command.assertions[0].model_dump(mode="json")["schema"] == {"type": "object"}


@pytest.mark.parametrize(
    ("cases", "repetitions", "expected"), [(0, 1, 1), (0, 5, 5), (3, 2, 6), (10_000, 50, 500_000)]
)
def test_total_calls(cases: int, repetitions: int, expected: int) -> None:
    assert total_calls(cases, repetitions) == expected


def version(text: str, variables: list[VariableSpec]) -> PromptVersion:
    return PromptVersion(
        version_id=uuid.uuid4(),
        prompt_id=uuid.uuid4(),
        number=2,
        template=TextTemplate(text=text),
        variables=variables,
    )


def command(cases: list[dict[str, Any]], repetitions: int = 1) -> CreateRun:
    return CreateRun(
        version=VersionSelector(prompt_version_id=uuid.uuid4()),
        model=ModelRef(provider="mock", name="echo"),
        repetitions=repetitions,
        cases=[Case(variables=case) for case in cases],
    )


def plan(version: PromptVersion) -> RunPlan:
    return RunPlan(version, ModelRef(provider="mock", name="echo"), ModelParameters(), None)


def test_plan_applies_defaults_and_snapshots_the_run() -> None:
    v = version(
        "{{ greeting }} {{ name }}{{ suffix }}",
        [
            VariableSpec(name="greeting", default="Hello"),
            VariableSpec(name="name"),
            VariableSpec(name="suffix", required=False),
        ],
    )
    run_id = uuid.uuid4()
    created = plan_run(
        run_id, command([{"name": "Ann"}, {"name": "Bo", "greeting": "Hi"}], 2), plan(v)
    )
    assert created.run_id == run_id and created.total_calls == 4
    assert created.cases == [
        {"greeting": "Hello", "suffix": "", "name": "Ann"},
        {"greeting": "Hi", "suffix": "", "name": "Bo"},
    ]
    assert created.prompt_version_number == 2 and created.template == v.template


@pytest.mark.parametrize(
    ("cases", "field", "rule"),
    [
        ([{"name": "Ann"}, {"nom": "Bo"}], "cases.1.name", "missing"),
        ([], "cases", "missing"),
        ([{"name": "Ann", "items": 3}], "cases.0", "template_render"),
    ],
)
def test_plan_refuses_bad_cases_naming_the_case(
    cases: list[dict[str, Any]], field: str, rule: str
) -> None:
    v = version("Hi {{ name }} {% for i in items %}{{ i }}{% endfor %}", [])
    v = v.model_copy(update={"variables": [VariableSpec(name="name")]})
    with pytest.raises(DomainError) as caught:
        plan_run(uuid.uuid4(), command(cases), plan(v))
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_plan_without_cases_renders_one_case() -> None:
    v = PromptVersion(
        version_id=uuid.uuid4(),
        prompt_id=uuid.uuid4(),
        number=1,
        template=ChatTemplate.model_validate({"messages": [{"role": "user", "content": "Hi"}]}),
        variables=[],
    )
    created = plan_run(uuid.uuid4(), command([], repetitions=3), plan(v))
    assert created.cases == [] and created.total_calls == 3


def test_providers_are_read_from_json_and_never_listed_with_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "PROVIDERS",
        '{"openai": {"kind": "openai", "base_url": "https://api.openai.com/v1",'
        ' "api_key": "sk-secret-123"}}',
    )
    settings = RunOrchestratorSettings()
    assert settings.providers["openai"].api_key == SecretStr("sk-secret-123")
    assert "sk-secret-123" not in repr(settings)
    listed = ProviderRegistry(settings).describe_configured()
    assert [(p.name, p.kind) for p in listed] == [("mock", "mock"), ("openai", "openai")]
    assert "sk-secret" not in repr(listed)


@pytest.mark.parametrize("name", ["mock", "Bad Name"])
def test_provider_names_are_checked(name: str) -> None:
    with pytest.raises(ValidationError):
        RunOrchestratorSettings(providers={name: {"base_url": "http://127.0.0.1:1/v1"}})


def test_the_response_cache_is_per_project_and_defaults_keep_their_keys() -> None:
    messages = [Message(role="user", content="hi")]
    model, parameters = ModelRef(provider="mock", name="echo"), ModelParameters()
    default = cache_key(messages, model, parameters, 1)
    assert cache_key(messages, model, parameters, 1, "default") == default
    assert cache_key(messages, model, parameters, 1, "b") != default
    assert cache_key(messages, model, parameters, 1, "b") != cache_key(
        messages, model, parameters, 1, "c"
    )


def test_the_young_gc_threshold_is_raised_never_lowered() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        raise_young_threshold()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
        gc.set_threshold(YOUNG_THRESHOLD * 2, 5, 7)
        raise_young_threshold()
        assert gc.get_threshold() == (YOUNG_THRESHOLD * 2, 5, 7)
    finally:
        gc.set_threshold(*saved)
