"""The original product's metrics (is_valid_json, schema_pass, missing_fields,
type_mismatches, numeric_accuracy, boolean_accuracy) and parsed_output, against the case's
expected output and the run's JSON Schemas."""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import TypeAdapter

from evaluator.domain.metrics import OUTPUT_METRICS
from evaluator.domain.plan import Evaluation, RunPlan, metric_names
from evaluator.domain.subject import parse_json
from evaluator.handlers.evaluation import evaluate_result
from promptworks_contracts.events import ResultRecorded
from promptworks_contracts.values import Assertion, OutputChecks

ASSERTIONS = TypeAdapter(list[Assertion])

EXPECTED = {
    "city": "Paris",
    "population": 2100000,
    "area": 105.4,
    "capital": True,
    "coastal": False,
    "districts": [{"n": 1}, {"n": 2}],
}


def judge(
    output: str | None,
    *,
    expected: list[Any] | None = None,
    assertions: list[dict[str, Any]] | None = None,
    error: str | None = None,
) -> Evaluation:
    run_plan = RunPlan.compile(ASSERTIONS.validate_python(assertions or []), [], expected or [])
    return run_plan.judge(recorded(output, error))


def recorded(output: str | None, error: str | None = None) -> ResultRecorded:
    return ResultRecorded(
        run_id=uuid.uuid4(),
        result_id=uuid.uuid4(),
        case_index=0,
        repetition=1,
        output=output,
        latency_ms=10.0,
        error=error,
    )


def checks_of(evaluation: Evaluation) -> OutputChecks:
    assert evaluation.output_checks is not None
    return evaluation.output_checks


def test_a_run_without_expected_outputs_or_schemas_has_no_output_metrics() -> None:
    evaluation = judge('{"a": 1}')
    assert evaluation.output_checks is None
    assert not {m.name for m in evaluation.metrics} & set(OUTPUT_METRICS)
    assert evaluation.parsed_output == {"a": 1}  # parsed_output is always given for JSON
    assert metric_names([], [None, None]) == metric_names([])


def test_an_output_equal_to_the_expected_one_scores_full_marks() -> None:
    evaluation = judge(
        '{"city": "Paris", "population": 2100000.0, "area": 105.4, "capital": true, '
        '"coastal": false, "districts": [{"n": 1}, {"n": 2}], "extra": 1}',
        expected=[EXPECTED],
    )
    checks = checks_of(evaluation)
    assert checks == OutputChecks(
        is_valid_json=True,
        schema_pass=None,
        missing_fields=[],
        type_mismatches=[],
        numeric_accuracy=1.0,
        boolean_accuracy=1.0,
    )
    metrics = {m.name: m.value for m in evaluation.metrics}
    assert [metrics[name] for name in OUTPUT_METRICS] == [1.0, None, 0.0, 0.0, 1.0, 1.0]


def test_every_missing_field_and_type_mismatch_is_listed_and_accuracies_are_shares() -> None:
    output = (
        '{"city": 7, "population": 2100000, "area": 99, "capital": "yes", "districts": [{"n": 1}]}'
    )
    checks = checks_of(judge(output, expected=[EXPECTED]))
    assert checks.missing_fields == ["/coastal", "/districts/1/n"]
    assert [(m.path, m.expected, m.actual) for m in checks.type_mismatches] == [
        ("/city", "string", "integer"),
        ("/capital", "boolean", "string"),
    ]
    # Numbers: population right, area wrong, districts/0/n right, districts/1/n missing.
    assert checks.numeric_accuracy == 2 / 4
    # Booleans: capital is a string, coastal is missing.
    assert checks.boolean_accuracy == 0.0


def test_a_container_of_the_wrong_type_is_one_mismatch_not_one_per_leaf() -> None:
    checks = checks_of(
        judge('{"districts": "many"}', expected=[{"districts": [{"n": 1}, {"n": 2}]}])
    )
    assert [(m.path, m.expected, m.actual) for m in checks.type_mismatches] == [
        ("/districts", "array", "string")
    ]
    assert checks.missing_fields == []


def test_every_schema_error_counts_not_just_the_first() -> None:
    schema = {
        "type": "object",
        "required": ["a", "b", "c"],
        "properties": {
            "a": {"type": "integer"},
            "b": {"type": "string"},
            "nested": {
                "type": "object",
                "required": ["x"],
                "properties": {"y": {"type": "boolean"}},
            },
        },
    }
    evaluation = judge(
        '{"a": "1", "nested": {"y": 3}}', assertions=[{"type": "json_schema", "schema": schema}]
    )
    checks = checks_of(evaluation)
    assert checks.schema_pass is False
    assert sorted(checks.missing_fields) == ["/b", "/c", "/nested/x"]
    assert sorted((m.path, m.expected, m.actual) for m in checks.type_mismatches) == [
        ("/a", "integer", "string"),
        ("/nested/y", "boolean", "integer"),
    ]
    metrics = {m.name: m for m in evaluation.metrics}
    assert (metrics["missing_fields"].value, metrics["type_mismatches"].value) == (3.0, 2.0)
    assert metrics["missing_fields"].detail is not None
    assert metrics["numeric_accuracy"].value is None  # no expected output: not applicable


def test_expected_json_given_as_text_is_parsed_and_plain_text_is_not_structural() -> None:
    checks = checks_of(judge('{"n": 2}', expected=['{"n": 2, "ok": true}']))
    assert (checks.missing_fields, checks.numeric_accuracy) == (["/ok"], 1.0)
    plain = checks_of(judge("Paris", expected=["Paris"]))
    assert (plain.is_valid_json, plain.numeric_accuracy, plain.missing_fields) == (False, None, [])


def test_a_scalar_expected_value_is_compared_with_the_whole_output() -> None:
    assert checks_of(judge("42", expected=[42])).numeric_accuracy == 1.0
    assert checks_of(judge("41.5", expected=[42])).numeric_accuracy == 0.0
    assert checks_of(judge("true", expected=[True])).boolean_accuracy == 1.0


def test_output_that_is_not_json_fails_what_applies() -> None:
    evaluation = judge(
        "It is Paris.",
        expected=[{"n": 1, "b": True}],
        assertions=[{"type": "json_schema", "schema": {"type": "object"}}],
    )
    checks = checks_of(evaluation)
    assert (checks.is_valid_json, checks.schema_pass) == (False, False)
    assert (checks.numeric_accuracy, checks.boolean_accuracy) == (0.0, 0.0)
    assert evaluation.parsed_output is None
    failed = checks_of(judge(None, expected=[{"n": 1}], error="timeout"))
    assert (failed.is_valid_json, failed.numeric_accuracy) == (False, 0.0)


def test_parsed_output_is_the_json_value_even_when_it_is_falsy() -> None:
    assert judge("0").parsed_output == 0
    assert judge("[]").parsed_output == []
    assert judge('"text"').parsed_output == "text"


def test_plain_text_is_refused_with_json_loads_own_message() -> None:
    texts = [
        "",
        "   ",
        "\n\t x",
        "Paris",
        " {x",
        "[1,",
        "\ufeff{}",
        "NaN",
        "-",
        "tru",
        "\r\n\n  ok",
    ]
    for text in texts:
        try:
            json.loads(text)
        except ValueError as error:
            expected: tuple[Any, str | None] = (None, f"not JSON: {error}")
        else:
            expected = (json.loads(text), None)
        assert parse_json(text) == expected, text


def test_a_lone_surrogate_in_json_output_is_replaced_and_the_event_still_encodes() -> None:
    """JSON may escape half a surrogate pair; UTF-8 cannot hold it. The parsed output keeps
    U+FFFD in its place (a whole pair stays the character it spells), so the result is
    evaluated and its event encoded instead of failing into a dead letter."""
    output = '{"a": "\\ud800x", "b": "\\ud83d\\ude00", "\\udfff": 1}'
    plan = RunPlan.compile(ASSERTIONS.validate_python([{"type": "is_json"}]), [], [])
    event, _ = evaluate_result(plan, recorded(output), None, {})
    decoded = json.loads(event.model_dump_json())
    assert decoded["parsed_output"] == {"a": "\ufffdx", "b": "\U0001f600", "\ufffd": 1}
    assert decoded["passed"] is True


def test_a_lone_surrogate_in_a_plain_output_is_matched_by_regex_as_u_fffd() -> None:
    """RE2 matches UTF-8, which cannot hold half a surrogate pair: the output is matched with
    U+FFFD in its place instead of the check raising (the claim failing into a dead letter)."""
    output = "abc\ud800def"
    plan = RunPlan.compile(
        ASSERTIONS.validate_python(
            [
                {"type": "regex", "pattern": "abc.def", "name": "around"},
                {"type": "regex", "pattern": "zzz", "name": "absent"},
            ]
        ),
        [],
        [],
    )
    event, _ = evaluate_result(plan, recorded(output), None, {})
    decoded = json.loads(event.model_dump_json())
    verdicts = {m["name"]: m for m in decoded["metrics"]}
    assert verdicts["around"]["passed"] is True
    assert verdicts["absent"]["passed"] is False
    assert decoded["passed"] is False
