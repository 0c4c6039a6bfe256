"""The standard metrics of every result, and the statistics that summarise a run."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter, ValidationError

from evaluator.domain.metrics import STANDARD_METRICS, metric_documents, standard_metrics
from evaluator.domain.plan import RunPlan
from evaluator.domain.stats import MetricStats, RunStats, accumulate, accumulate_all, summaries
from evaluator.handlers.encoded import EncodedResultEvaluated
from evaluator.handlers.evaluation import evaluate_result, metric_fields
from promptworks_contracts.events import ResultEvaluated, ResultRecorded
from promptworks_contracts.values import Assertion, MetricValue, OutputChecks, TokenUsage

ROOT = Path(__file__).resolve().parents[3]


def recorded(
    output: str | None = "hello",
    *,
    latency: float = 500.0,
    usage: tuple[int, int, int] = (10, 20, 30),
    error: str | None = None,
    case: int = 0,
) -> ResultRecorded:
    prompt, completion, total = usage
    return ResultRecorded(
        run_id=uuid.uuid4(),
        result_id=uuid.uuid4(),
        case_index=case,
        repetition=1,
        output=output,
        latency_ms=latency,
        usage=TokenUsage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total),
        error=error,
    )


def by_name(metrics: list[MetricValue]) -> dict[str, MetricValue]:
    return {m.name: m for m in metrics}


def test_standard_metrics_of_a_successful_call() -> None:
    metrics = standard_metrics(recorded("hello", latency=500.0, usage=(10, 20, 30)))
    assert [m.name for m in metrics] == list(STANDARD_METRICS)
    values = {m.name: m.value for m in metrics}
    assert values == {
        "latency_ms": 500.0,
        "prompt_tokens": 10.0,
        "completion_tokens": 20.0,
        "total_tokens": 30.0,
        "output_chars": 5.0,
        "tokens_per_second": 40.0,
        "error": 0.0,
    }
    error = by_name(metrics)["error"]
    assert error.passed is True and error.detail is None
    assert all(m.passed is None for m in metrics if m.name != "error")


def test_tokens_per_second_is_none_without_latency() -> None:
    metrics = by_name(standard_metrics(recorded(latency=0.0)))
    assert metrics["tokens_per_second"].value is None
    assert metrics["latency_ms"].value == 0.0


def test_standard_metrics_of_a_failed_call() -> None:
    metrics = by_name(
        standard_metrics(recorded(None, latency=1200.0, usage=(0, 0, 0), error="HTTP 500"))
    )
    assert (metrics["error"].value, metrics["error"].passed) == (1.0, False)
    assert metrics["output_chars"].value is None
    assert metrics["tokens_per_second"].value is None
    assert metrics["latency_ms"].value == 1200.0
    assert metrics["total_tokens"].value == 0.0


def test_output_chars_counts_characters_not_bytes() -> None:
    assert by_name(standard_metrics(recorded("héllo 🙂")))["output_chars"].value == 7.0


def test_summaries_give_mean_min_max_and_pass_rate() -> None:
    stats: RunStats = {}
    accumulate(stats, standard_metrics(recorded(latency=100.0)))
    accumulate(stats, standard_metrics(recorded(latency=300.0)))
    accumulate(stats, standard_metrics(recorded(None, latency=0.0, error="boom")))
    result = {s.name: s for s in summaries(STANDARD_METRICS, stats)}
    latency = result["latency_ms"]
    assert (latency.count, latency.mean, latency.min, latency.max) == (3, 400.0 / 3, 0.0, 300.0)
    assert latency.pass_rate is None
    # None values stay out of count and mean.
    assert (result["output_chars"].count, result["output_chars"].mean) == (2, 5.0)
    tps = result["tokens_per_second"]
    assert (tps.count, tps.min, tps.max) == (2, 20_000 / 300, 200.0)
    assert result["error"].pass_rate == pytest.approx(2 / 3)


def test_summaries_list_the_plan_metrics_first_even_when_nothing_was_measured() -> None:
    stats = {"zeta": MetricStats(count=1, sum=2.0, min=2.0, max=2.0)}
    result = summaries(["latency_ms", "contains_0"], stats)
    assert [s.name for s in result] == ["latency_ms", "contains_0", "zeta"]
    assert result[0].count == 0 and result[0].mean is None and result[0].pass_rate is None


def test_a_compiled_plan_evaluates_many_results_with_templated_checks() -> None:
    assertions = TypeAdapter(list[Assertion]).validate_python(
        [
            {"type": "contains", "value": "{{ city }}"},
            {"type": "json_schema", "schema": {"type": "object", "required": ["city"]}},
            {"type": "regex", "pattern": r'"city"\s*:\s*"\w+"'},
        ]
    )
    cases = [{"city": f"city{i}"} for i in range(500)]
    results = [recorded(f'{{"city": "city{i % 500}"}}', case=i % 500) for i in range(10_000)]
    run_plan = RunPlan.compile(assertions, cases)
    stats: RunStats = {}
    for result in results:
        metrics = run_plan.evaluate(result)
        accumulate(stats, metrics)
        ResultEvaluated(run_id=result.run_id, result_id=result.result_id, metrics=metrics)
    assert stats["contains_0"].passed == 10_000
    assert stats["json_schema_1"].passed == 10_000
    assert stats["regex_2"].passed == 10_000


def test_statistics_added_a_metric_at_a_time_equal_those_added_a_result_at_a_time() -> None:
    run_plan = RunPlan.compile(
        TypeAdapter(list[Assertion]).validate_python(
            [{"type": "contains", "value": "a"}, {"type": "rouge-l", "value": "a b c"}]
        ),
        [{}],
    )
    results = [
        run_plan.evaluate(recorded(text, latency=latency, error=error))
        for text, latency, error in [
            ("a b", 120.5, None),
            (None, 0.0, "boom"),
            ("c b a", 99.25, None),
            ("zzz", 1e-3, None),
        ]
    ]
    one_by_one: RunStats = {}
    for metrics in results:
        accumulate(one_by_one, metrics)
    together: RunStats = {}
    accumulate_all(together, results)
    assert together == one_by_one
    # Results that do not carry the same metrics are added one by one.
    mixed: RunStats = {}
    accumulate_all(mixed, [results[0], results[1][:3]])
    expected: RunStats = {}
    accumulate(expected, results[0])
    accumulate(expected, results[1][:3])
    assert mixed == expected


def test_the_encoded_event_is_what_pydantic_writes_and_follows_the_committed_schema() -> None:
    """``evaluate_result`` encodes ``ResultEvaluated`` once, with orjson, from the metrics'
    fields (no models): the JSON equals pydantic's for the same event (parsed), validates
    against the committed JSON Schema, and the event reads as the plain one."""
    schema = json.loads(
        (ROOT / "contracts/schemas/promptworks.evaluation.result_evaluated.v1.json").read_text()
    )
    validator = Draft202012Validator(schema)
    assertions = TypeAdapter(list[Assertion]).validate_python(
        [
            {"type": "contains", "value": "{{ city }}"},
            {"type": "regex", "pattern": r"\d+", "name": "a_number"},
            {"type": "json_schema", "schema": {"type": "object", "required": ["city"]}},
            {"type": "bleu", "threshold": 0.3},
            {"type": "rouge-l", "threshold": 0.3},
            {"type": "levenshtein", "value": "Paris", "threshold": 2},
            {"type": "judge", "provider": "mock", "model": "m", "name": "quality"},
        ]
    )
    cases = [{"city": "Paris"}, {"city": "Oslo"}]
    expected = [{"city": "Paris", "n": 3, "ok": True}, "Oslo is a city of 700000 people."]
    plan = RunPlan.compile(assertions, cases, expected)
    outputs = [
        ('{"city": "Paris", "n": 3, "ok": true}', 0),
        ('{"city": 1, "n": "x"}', 0),
        ("Oslo is a city of 700000 people.", 1),
        ("oslo", 1),
        ('{"huge": 123456789012345678901234567890, "city": "Paris"}', 0),  # beyond orjson
        (None, 0),
    ]
    for output, case in outputs:
        result = recorded(output, case=case, error=None if output else "timeout")
        stats: RunStats = {}
        event, _ = evaluate_result(plan, result, None, stats)
        plain = made_by_pydantic(plan, result, event)
        # orjson refuses integers beyond 64 bits: that event is made by pydantic, as before.
        assert isinstance(event, EncodedResultEvaluated) == ("huge" not in (output or ""))
        assert json.loads(event.model_dump_json()) == json.loads(plain.model_dump_json())
        assert event == plain and event.metrics == plain.metrics
        assert not list(validator.iter_errors(json.loads(event.model_dump_json())))
        expected_stats: RunStats = {}
        accumulate(expected_stats, plain.metrics)
        assert stats == expected_stats
        together: RunStats = {}
        accumulate_all(together, [metric_fields(event)])
        assert together == expected_stats
    # Against plain-text expected outputs (no schema): the output checks are the shared ones
    # of plain text, encoded from their dict made once; the same JSON as pydantic's.
    plain_plan = RunPlan.compile(assertions[:2], cases, ["Paris.", "Oslo."])
    for output in ["Paris has 2 million people.", '{"city": "Paris"}', "Paris.", "Paris."]:
        result = recorded(output)
        event, _ = evaluate_result(plain_plan, result, None, None)
        plain = made_by_pydantic(plain_plan, result, event)
        assert isinstance(event, EncodedResultEvaluated)
        assert event.output_checks == OutputChecks(is_valid_json=output.startswith("{"))
        assert json.loads(event.model_dump_json()) == json.loads(plain.model_dump_json())


def made_by_pydantic(
    plan: RunPlan, result: ResultRecorded, event: ResultEvaluated
) -> ResultEvaluated:
    """``event`` as the models make it (metrics validated, serialised by pydantic)."""
    return ResultEvaluated(
        run_id=result.run_id,
        result_id=result.result_id,
        metrics=plan.judge(result).metrics,
        passed=event.passed,
        score=event.score,
        reasons=event.reasons,
        parsed_output=event.parsed_output,
        output_checks=event.output_checks,
    )


def test_metric_fields_are_checked_against_metric_values_bounds() -> None:
    """What ``metric_documents`` passes unvalidated is what ``MetricValue`` accepts; anything
    else is validated (normalised, or refused with the model's error)."""
    fields = MetricValue.model_fields
    assert [c.max_length for c in fields["name"].metadata if hasattr(c, "max_length")] == [200]
    assert list(fields) == ["name", "value", "passed", "detail"]
    ok = [{"name": "m", "value": 1.5, "passed": None, "detail": "d" * 2000}]
    assert metric_documents(ok) is ok
    assert metric_documents([{"name": "m", "value": 2, "passed": True, "detail": None}]) == [
        {"name": "m", "value": 2.0, "passed": True, "detail": None}
    ]
    with pytest.raises(ValidationError):
        metric_documents([{"name": "m" * 201, "value": None, "passed": None, "detail": None}])
    with pytest.raises(ValidationError):
        metric_documents([{"name": "m", "value": None, "passed": None, "detail": "d" * 2001}])
