"""Run configuration, cost and stopping, on the in-memory write port (no infrastructure):
labels and the version's defaults, typed variables, CSV/JSONL cases, exact costs, the
estimate, the budget cap and cancelling."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from decimal import Decimal
from typing import Any

import pytest

from promptworks_contracts.api.runs import CreateRunRequest
from promptworks_contracts.events import (
    PromptLabelMoved,
    PromptLabelRemoved,
    PromptVersionCreated,
    RunCancelled,
    RunCompleted,
    RunCreated,
    RunProgressed,
)
from promptworks_contracts.values import (
    ModelParameters,
    ModelPricing,
    ModelRef,
    Money,
    TextTemplate,
    TokenUsage,
    VariableSpec,
)
from promptworks_eventkit.errors import ConflictError, DomainError, NotFoundError
from run_orchestrator.api.requests import run_command
from run_orchestrator.domain.batches import CreateBatch
from run_orchestrator.domain.cases import Case, parse_cases
from run_orchestrator.domain.commands import CreateRun, VersionSelector
from run_orchestrator.domain.cost import call_cost, estimate_cost
from run_orchestrator.domain.variables import typed_variables
from run_orchestrator.providers.mock import MockProvider
from run_orchestrator.settings import RunOrchestratorSettings

# Service test folders are not packages (import-mode=importlib): the handler tests' world
# (the in-memory orchestrator and its helpers) is imported by path.
_handlers = importlib.import_module("services.run-orchestrator.tests.test_handlers")
CONTEXT, SETTINGS, Orchestrator = _handlers.CONTEXT, _handlers.SETTINGS, _handlers.Orchestrator
kinds, results_of = _handlers.kinds, _handlers.results_of

PRICE = ModelPricing(input_per_million=Decimal("2.50"), output_per_million=Decimal("10.00"))


# --- variable types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "value", "problem"),
    [
        (VariableSpec(name="n", type="number"), 5, None),
        (VariableSpec(name="n", type="number"), 2.5, None),
        (VariableSpec(name="n", type="number"), "five", "must be of type number, not string"),
        (VariableSpec(name="n", type="number"), True, "must be of type number, not boolean"),
        (VariableSpec(name="i", type="integer"), 5.0, None),
        (VariableSpec(name="i", type="integer"), 5.5, "must be of type integer, not number"),
        (VariableSpec(name="b", type="boolean"), 1, "must be of type boolean, not number"),
        (VariableSpec(name="s", type="string"), 3, "must be of type string, not number"),
        (VariableSpec(name="l", type="list"), [1, "a"], None),
        (VariableSpec(name="l", type="list"), {"a": 1}, "must be of type list, not object"),
        (VariableSpec(name="j", type="json"), {"any": [None]}, None),
        (VariableSpec(name="e", type="enum", choices=["red", 1]), "red", None),
        (VariableSpec(name="e", type="enum", choices=["red", 1]), True, "must be one of"),
        (VariableSpec(name="e", type="enum", choices=["red", 1]), "blue", "must be one of"),
    ],
)
def test_declared_types_are_enforced(spec: VariableSpec, value: Any, problem: str | None) -> None:
    found = spec.type_error(value)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_a_declaration_is_checked_itself() -> None:
    with pytest.raises(ValueError, match="needs `choices`"):
        VariableSpec(name="e", type="enum")
    with pytest.raises(ValueError, match="default"):
        VariableSpec(name="n", type="number", default="five")


def test_csv_text_is_converted_to_the_declared_types() -> None:
    specs = [
        VariableSpec(name="n", type="number"),
        VariableSpec(name="i", type="integer"),
        VariableSpec(name="b", type="boolean"),
        VariableSpec(name="e", type="enum", choices=["low", 2, True]),
        VariableSpec(name="l", type="list"),
        VariableSpec(name="s"),
    ]
    [case] = parse_cases(
        'n,i,b,e,l,s,expected,metadata.source\n2.5,7,yes,2,"[1, 2]",007,ok,crm\n', "csv"
    )
    assert case.expected == "ok" and case.metadata == {"source": "crm"}
    typed = typed_variables(specs, case.variables, 0, textual=case.textual)
    assert typed == {"n": 2.5, "i": 7, "b": True, "e": 2, "l": [1, 2], "s": "007"}
    [bad] = parse_cases("n\nfive\n", "csv")
    with pytest.raises(DomainError) as refused:
        typed_variables(specs, bad.variables, 3, textual=True)
    assert (refused.value.field, refused.value.rule) == ("cases.3.n", "type")


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ('{"a": 1}\n{"a": \n', "jsonl", "line 2 is not JSON"),
        ('{"a": 1}\n[1]\n', "jsonl", "line 2 must be a JSON object"),
        ("a,b\n1,2,3\n", "csv", "more cells than the header"),
        ("", "csv", "no header row"),
        ("a,a\n1,2\n", "csv", "repeats a column"),
    ],
)
def test_malformed_case_files_are_refused_naming_the_line(
    text: str, fmt: Any, message: str
) -> None:
    with pytest.raises(DomainError, match=message) as refused:
        parse_cases(text, fmt)
    assert refused.value.field == "cases_text"


def test_jsonl_and_json_cases_carry_expected_and_metadata() -> None:
    cases = parse_cases(
        '{"variables": {"q": "2+2"}, "expected": "4", "metadata": {"tag": "math"}}\n'
        '{"q": "plain variables"}\n',
        "jsonl",
    )
    assert cases == [
        Case(variables={"q": "2+2"}, expected="4", metadata={"tag": "math"}),
        Case(variables={"q": "plain variables"}),
    ]


# --- cost -------------------------------------------------------------------------------------


def test_a_call_costs_its_tokens_at_the_snapshotted_price() -> None:
    usage = TokenUsage(prompt_tokens=1_000, completion_tokens=500, total_tokens=1_500)
    # 1,000 x 2.50 / 1M + 500 x 10.00 / 1M = 0.0025 + 0.005
    assert call_cost(usage, PRICE) == Money(amount=Decimal("0.0075"), currency="USD")
    assert call_cost(usage, None) is None
    one_token = TokenUsage(prompt_tokens=1)
    assert call_cost(one_token, PRICE) == Money(amount=Decimal("0.0000025"))


def test_the_estimate_counts_prompt_characters_and_max_tokens() -> None:
    # 4,000 rendered characters over 10 cases -> 1,000 prompt tokens per repetition;
    # 3 repetitions -> 3,000 prompt tokens and 10 x 3 x 100 = 3,000 output tokens.
    estimate = estimate_cost(4_000, 3, 100, 10, PRICE)
    assert estimate == Money(amount=Decimal("0.0375"))  # 3,000 x 2.5/1M + 3,000 x 10/1M


# --- labels and the version's defaults ----------------------------------------------------------


def version(number: int, prompt_id: uuid.UUID, **changes: Any) -> PromptVersionCreated:
    return PromptVersionCreated(
        prompt_id=prompt_id,
        version_id=uuid.uuid4(),
        number=number,
        template=TextTemplate(text=f"v{number} {{{{ name }}}}"),
        variables=[VariableSpec(name="name")],
        **changes,
    )


def by_label(prompt_id: uuid.UUID, label: str, **changes: Any) -> CreateRun:
    return CreateRun(
        version=VersionSelector(prompt_id=prompt_id, label=label),
        cases=[Case(variables={"name": "Ann"})],
        **changes,
    )


async def test_a_label_resolves_at_creation_and_latest_is_the_highest_number() -> None:
    orchestrator = Orchestrator()
    prompt_id = uuid.uuid4()
    v1, v2 = version(1, prompt_id), version(2, prompt_id)
    await orchestrator.consume(
        [
            v1,
            v2,
            PromptLabelMoved(
                prompt_id=prompt_id, label="production", version_id=v1.version_id, version_number=1
            ),
            PromptLabelMoved(
                prompt_id=prompt_id, label="staging", version_id=v2.version_id, version_number=2
            ),
            PromptLabelRemoved(prompt_id=prompt_id, label="staging", previous_version_number=2),
        ]
    )
    production = await orchestrator.commands.create_run(by_label(prompt_id, "production"), CONTEXT)
    latest = await orchestrator.commands.create_run(by_label(prompt_id, "latest"), CONTEXT)
    assert production.plan.version.version_id == v1.version_id
    assert latest.plan.version.version_id == v2.version_id
    [created] = [s.event for s in orchestrator.stream(production.run_id)]
    assert isinstance(created, RunCreated)
    assert (created.label, created.prompt_version_number) == ("production", 1)
    with pytest.raises(DomainError) as refused:
        await orchestrator.commands.create_run(by_label(prompt_id, "staging"), CONTEXT)
    assert (refused.value.field, refused.value.rule) == ("label", "not_found")


async def test_model_and_parameters_default_to_the_versions() -> None:
    orchestrator = Orchestrator()
    prompt_id = uuid.uuid4()
    v1 = version(
        1,
        prompt_id,
        default_model=ModelRef(provider="mock", name="house-model"),
        default_parameters=ModelParameters(temperature=0.1, max_tokens=64, seed=7),
    )
    await orchestrator.consume([v1])
    defaults = await orchestrator.commands.create_run(by_label(prompt_id, "latest"), CONTEXT)
    assert defaults.plan.model == ModelRef(provider="mock", name="house-model")
    assert defaults.plan.parameters == ModelParameters(temperature=0.1, max_tokens=64, seed=7)
    # A parameter the caller gives overrides that one only.
    command = by_label(prompt_id, "latest", parameters={"temperature": 1.2})
    override = await orchestrator.commands.create_run(command, CONTEXT)
    assert override.plan.parameters == ModelParameters(temperature=1.2, max_tokens=64, seed=7)


def test_the_request_says_which_way_to_name_the_version() -> None:
    version_id, prompt_id = str(uuid.uuid4()), str(uuid.uuid4())
    for body, field, rule in (
        ({}, "prompt_version_id", "missing"),
        ({"prompt_id": prompt_id}, "label", "missing"),
        ({"prompt_version_id": version_id, "label": "production"}, "label", "conflict"),
        ({"prompt_version_id": version_id, "cases_format": "csv"}, "cases_text", "missing"),
        ({"prompt_version_id": version_id, "cases_text": "a\n1"}, "cases_format", "missing"),
    ):
        with pytest.raises(DomainError) as refused:
            run_command(CreateRunRequest.model_validate(body))
        assert (refused.value.field, refused.value.rule) == (field, rule), body


# --- budget and cancel ------------------------------------------------------------------------

PRICED = RunOrchestratorSettings(
    **{**SETTINGS.model_dump(), "mock_models": {"echo": {"pricing": PRICE.model_dump()}}}
)


async def test_every_result_is_costed_and_the_run_totals_them() -> None:
    orchestrator = Orchestrator(settings=PRICED)
    accepted = await orchestrator.commands.create_run(
        by_label(*(await _prompt(orchestrator)), repetitions=3), CONTEXT
    )
    # Estimate: "v1 Ann" is 6 characters, 2 tokens; 256 output tokens (no max_tokens); x 3:
    # 6 x 2.50/1M + 768 x 10.00/1M.
    assert accepted.estimated_cost == Money(amount=Decimal("0.007695"))
    # The mock counts words: 2 prompt and 2 completion tokens per call.
    await orchestrator.execute(accepted.run_id)
    stored = orchestrator.stream(accepted.run_id)
    per_call = Money(amount=Decimal("0.000025"))  # 2 x 2.50/1M + 2 x 10.00/1M
    assert [r.cost for r in results_of(stored)] == [per_call] * 3
    completed = stored[-1].event
    assert isinstance(completed, RunCompleted)
    assert completed.cost == Money(amount=Decimal("0.000075"))


async def test_a_run_stops_when_its_spend_reaches_the_budget() -> None:
    orchestrator = Orchestrator(settings=PRICED)
    prompt = await _prompt(orchestrator)
    # 0.000025 a call: the budget is reached by the 4th result of 20.
    command = by_label(*prompt, repetitions=20, budget=Decimal("0.0001"))
    accepted = await orchestrator.commands.create_run(command, CONTEXT)
    # One call at a time: the budget is checked after every result.
    await orchestrator.execute(accepted.run_id, MockProvider(max_concurrency=1))
    stored = orchestrator.stream(accepted.run_id)
    cancelled = stored[-1].event
    assert isinstance(cancelled, RunCancelled)
    assert cancelled.cause == "budget" and "budget of 0.0001 USD" in cancelled.reason
    assert cancelled.succeeded == len(results_of(stored)) == 4
    assert cancelled.cost == Money(amount=Decimal("0.0001"))
    assert orchestrator.run(accepted.run_id).status == "cancelled"


async def test_a_budget_needs_a_known_price() -> None:
    orchestrator = Orchestrator()
    command = by_label(*(await _prompt(orchestrator)), model=ModelRef(provider="mock", name="x"))
    priced_elsewhere = RunOrchestratorSettings(
        **{**SETTINGS.model_dump(), "mock_models": {"x": {}}}
    )
    orchestrator.settings = priced_elsewhere
    with pytest.raises(DomainError) as refused:
        await orchestrator.commands.create_run(
            command.model_copy(update={"budget": Decimal(1)}), CONTEXT
        )
    assert (refused.value.field, refused.value.rule) == ("budget", "price_unknown")


async def test_a_queued_run_is_cancelled_at_once_and_never_executed() -> None:
    orchestrator = Orchestrator()
    accepted = await orchestrator.commands.create_run(
        by_label(*(await _prompt(orchestrator))), CONTEXT
    )
    cancelled = await orchestrator.commands.cancel_run(accepted.run_id, "Zoë", CONTEXT)
    assert cancelled.status == "cancelled"
    await orchestrator.execute(accepted.run_id)
    stored = orchestrator.stream(accepted.run_id)
    assert kinds(stored) == ["created", "cancelled"]
    event = stored[-1].event
    assert isinstance(event, RunCancelled) and event.cancelled_by == "Zoë"
    with pytest.raises(ConflictError) as refused:
        await orchestrator.commands.cancel_run(accepted.run_id, "Zoë", CONTEXT)
    assert refused.value.rule == "run_finished"
    with pytest.raises(NotFoundError):
        await orchestrator.commands.cancel_run(uuid.uuid4(), "Zoë", CONTEXT)


async def test_a_running_run_stops_within_a_second_keeping_what_finished() -> None:
    orchestrator = Orchestrator()
    command = by_label(*(await _prompt(orchestrator)), repetitions=50)
    accepted = await orchestrator.commands.create_run(command, CONTEXT)
    slow = MockProvider(latency_ms=100.0, max_concurrency=2)
    executing = asyncio.create_task(orchestrator.execute(accepted.run_id, slow))
    while orchestrator.run(accepted.run_id).recorded < 4:
        await asyncio.sleep(0.02)
    answer = await orchestrator.commands.cancel_run(accepted.run_id, "ops", CONTEXT)
    assert answer.status == "cancelling"
    await asyncio.wait_for(executing, 1.5)
    stored = orchestrator.stream(accepted.run_id)
    assert kinds(stored)[-1] == "cancelled"
    results = results_of(stored)
    assert 4 <= len(results) < 50
    event = stored[-1].event
    assert isinstance(event, RunCancelled) and event.cause == "requested"
    assert event.succeeded == len(results) and event.cancelled_by == "ops"


async def _prompt(orchestrator: Orchestrator) -> tuple[uuid.UUID, str]:
    prompt_id = uuid.uuid4()
    await orchestrator.consume([version(1, prompt_id)])
    return prompt_id, "latest"


# --- batches ----------------------------------------------------------------------------------


async def test_a_batch_of_3_versions_x_2_models_x_2_parameter_sets_makes_12_runs() -> None:
    orchestrator = Orchestrator(settings=PRICED)
    prompt_id = uuid.uuid4()
    versions = [version(n, prompt_id) for n in (1, 2, 3)]
    await orchestrator.consume(versions)
    command = CreateBatch(
        name="v1-v3 on two models",
        versions=[VersionSelector(prompt_version_id=v.version_id) for v in versions],
        models=[ModelRef(provider="mock", name="echo"), ModelRef(provider="mock", name="other")],
        parameter_sets=[{"temperature": 0.0}, {"temperature": 1.0, "seed": 3}],
        repetitions=2,
        cases=[Case(variables={"name": "Ann"}), Case(variables={"name": "Bo"})],
    )
    accepted = await orchestrator.commands.create_batch(command, CONTEXT)
    cells = accepted.batch.cells
    assert len(cells) == len(accepted.runs) == 12 and accepted.batch.total_calls == 48
    assert [(c.prompt_version_number, c.model.name, c.parameter_set) for c in cells[:4]] == [
        (1, "echo", 0),
        (1, "echo", 1),
        (1, "other", 0),
        (1, "other", 1),
    ]
    assert cells[1].parameters == ModelParameters(temperature=1.0, seed=3)
    assert {run.batch_id for run in accepted.runs} == {str(accepted.batch.batch_id)}
    # Each cell snapshots its own model's price: echo is priced, "other" is the free mock.
    prices = [run.pricing and run.pricing.input_per_million for run in accepted.runs[:4]]
    assert prices == [Decimal("2.50"), Decimal("2.50"), Decimal(0), Decimal(0)]
    for run in accepted.runs:
        await orchestrator.execute(run.run_id)
        assert kinds(orchestrator.stream(run.run_id))[-1] == "completed"
    assert [s.event for s in orchestrator.port.stream(str(accepted.batch.batch_id))] == [
        accepted.batch
    ]


async def test_a_batch_is_created_whole_or_not_at_all() -> None:
    orchestrator = Orchestrator()
    prompt_id = uuid.uuid4()
    await orchestrator.consume([version(1, prompt_id)])
    base = {
        "versions": [VersionSelector(prompt_id=prompt_id, label="latest")],
        "models": [ModelRef(provider="mock", name="echo"), ModelRef(provider="nowhere", name="x")],
        "parameter_sets": [{}],
        "cases": [Case(variables={"name": "Ann"})],
    }
    for changes, field, rule in (
        ({}, "models.1.provider", "unknown_provider"),
        (
            {"models": [None], "parameter_sets": [{}, {"temperature": 9}]},
            "parameter_sets.1.temperature",
            "less_than_equal",
        ),
        ({"models": [None] * 11, "parameter_sets": [{}] * 10}, "parameter_sets", "too_many_cells"),
    ):
        with pytest.raises(DomainError) as refused:
            await orchestrator.commands.create_batch(CreateBatch(**{**base, **changes}), CONTEXT)
        assert (refused.value.field, refused.value.rule) == (field, rule)
    assert orchestrator.port.outbox == [] and orchestrator.port.repos.runs == {}


async def test_progress_events_are_throttled_and_count_the_results_before_them() -> None:
    throttled = RunOrchestratorSettings(
        **{**SETTINGS.model_dump(), "progress_interval_seconds": 0.05}
    )
    orchestrator = Orchestrator(settings=throttled)
    command = by_label(*(await _prompt(orchestrator)), repetitions=40)
    accepted = await orchestrator.commands.create_run(command, CONTEXT)
    await orchestrator.execute(accepted.run_id, MockProvider(latency_ms=10.0, max_concurrency=2))
    stored = orchestrator.stream(accepted.run_id)
    progressed = [
        (index, s.event) for index, s in enumerate(stored) if isinstance(s.event, RunProgressed)
    ]
    # 40 calls of 10 ms two at a time take ~0.2 s: a few progress events, not one per flush.
    assert 1 <= len(progressed) <= 8
    for index, event in progressed:
        assert event.recorded == len(results_of(stored[:index])) and event.total_calls == 40
    assert kinds(stored)[-1] == "completed" and len(results_of(stored)) == 40


async def test_retry_makes_only_the_failed_calls_again_as_a_new_run() -> None:
    orchestrator = Orchestrator()
    accepted = await orchestrator.commands.create_run(
        by_label(*(await _prompt(orchestrator)), repetitions=20), CONTEXT
    )
    with pytest.raises(ConflictError) as unfinished:
        await orchestrator.commands.retry_failed(accepted.run_id, CONTEXT)
    assert unfinished.value.rule == "run_unfinished"
    await orchestrator.execute(accepted.run_id, MockProvider(failure_rate=0.4))
    first = results_of(orchestrator.stream(accepted.run_id))
    failed = sorted((r.case_index, r.repetition) for r in first if r.error is not None)
    assert 0 < len(failed) < 20  # the mock fails by hash: the same pairs on every run

    retry = await orchestrator.commands.retry_failed(accepted.run_id, CONTEXT)
    assert retry.total_calls == len(failed)
    await orchestrator.execute(retry.run_id, MockProvider())
    stored = orchestrator.stream(retry.run_id)
    created = stored[0].event
    assert isinstance(created, RunCreated)
    assert created.retry_of == accepted.run_id and created.pairs == failed
    again = results_of(stored)
    assert sorted((r.case_index, r.repetition) for r in again) == failed
    assert all(r.error is None for r in again) and kinds(stored)[-1] == "completed"
    with pytest.raises(ConflictError) as nothing:
        await orchestrator.commands.retry_failed(retry.run_id, CONTEXT)
    assert nothing.value.rule == "nothing_to_retry"


async def test_the_response_cache_answers_repeated_calls_without_calling_or_cost() -> None:
    orchestrator = Orchestrator(settings=PRICED)
    prompt = await _prompt(orchestrator)
    counting = _handlers.CountingProvider()

    async def run(repetitions: int, cache: bool) -> list[Any]:
        command = by_label(*prompt, repetitions=repetitions, use_cache=cache)
        accepted = await orchestrator.commands.create_run(command, CONTEXT)
        await orchestrator.execute(accepted.run_id, counting)
        return results_of(orchestrator.stream(accepted.run_id))

    first = await run(2, cache=True)
    assert len(counting.calls) == 2 and not any(r.cached for r in first)
    again = await run(3, cache=True)  # repetitions 1 and 2 are cached, 3 is new
    assert sum(counting.calls.values()) == 3
    cached = {r.repetition: r for r in again if r.cached}
    assert set(cached) == {1, 2}
    assert all(r.cost == Money(amount=Decimal(0)) for r in cached.values())
    assert [r.output for r in sorted(first, key=lambda r: r.repetition)] == [
        cached[1].output,
        cached[2].output,
    ]
    await run(2, cache=False)  # without the cache, every call is made
    assert sum(counting.calls.values()) == 5


def test_an_invalid_schema_or_regex_is_refused_when_the_run_is_requested() -> None:
    base = {"prompt_version_id": str(uuid.uuid4())}
    with pytest.raises(DomainError) as refused:
        run_command(CreateRunRequest.model_validate({**base, "schema": {"type": "nonsense"}}))
    assert (refused.value.field, refused.value.rule) == ("schema", "json_schema")
    with pytest.raises(ValueError, match="assertions"):
        CreateRunRequest.model_validate(
            {**base, "assertions": [{"type": "regex", "pattern": "(unclosed"}]}
        )
