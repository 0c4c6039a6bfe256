"""Every assertion type, through the plan that compiles and names them."""

from __future__ import annotations

import uuid
from typing import Any, get_args

from pydantic import TypeAdapter

from evaluator.domain.assertions import DETAIL_CHARS, PREPARERS
from evaluator.domain.plan import RunPlan, assertion_names
from promptworks_contracts.events import ResultRecorded
from promptworks_contracts.values import RECORDED, Assertion, MetricValue, canonical_type

ASSERTIONS = TypeAdapter(list[Assertion])


def plan(*assertions: dict[str, Any], cases: list[dict[str, Any]] | None = None) -> RunPlan:
    return RunPlan.compile(ASSERTIONS.validate_python(list(assertions)), cases or [])


def result(
    output: str | None = "", *, case: int = 0, latency: float = 100.0, error: str | None = None
) -> ResultRecorded:
    return ResultRecorded(
        run_id=uuid.uuid4(),
        result_id=uuid.uuid4(),
        case_index=case,
        repetition=1,
        output=output,
        latency_ms=latency,
        error=error,
    )


def verdict(run_plan: RunPlan, recorded: ResultRecorded, index: int = 0) -> MetricValue:
    """The metric of the ``index``-th assertion (standard metrics come first)."""
    metrics = run_plan.evaluate(recorded)
    return metrics[len(metrics) - len(run_plan.checks) + index]


def test_the_table_handles_every_assertion_type_of_the_contract() -> None:
    union = get_args(get_args(Assertion)[0])
    spellings = {
        kind for model in union for kind in get_args(model.model_fields["type"].annotation)
    }
    assert {canonical_type(kind) for kind in spellings} == set(PREPARERS)


def test_contains_passes_and_fails_with_a_reason() -> None:
    contains = plan({"type": "contains", "value": "Paris"})
    ok = verdict(contains, result("I love Paris"))
    assert (ok.value, ok.passed, ok.detail) == (1.0, True, None)
    bad = verdict(contains, result("I love paris"))
    assert (bad.value, bad.passed) == (0.0, False)
    assert bad.detail == "output does not contain 'Paris'"


def test_contains_can_ignore_case() -> None:
    contains = plan({"type": "contains", "value": "PARIS", "case_sensitive": False})
    assert verdict(contains, result("i love paris")).passed is True


def test_templated_value_is_rendered_with_the_variables_of_the_results_case() -> None:
    contains = plan(
        {"type": "contains", "value": "{{ city }}"},
        cases=[{"city": "Paris"}, {"city": "Rome"}],
    )
    assert verdict(contains, result("Paris!", case=0)).passed is True
    rome = verdict(contains, result("Paris!", case=1))
    assert rome.passed is False and rome.detail == "output does not contain 'Rome'"
    assert verdict(contains, result("Rome!", case=1)).passed is True


def test_a_missing_template_variable_fails_the_assertion_instead_of_crashing() -> None:
    contains = plan({"type": "contains", "value": "{{ town }}"}, cases=[{"city": "Paris"}])
    metric = verdict(contains, result("Paris"))
    assert metric.passed is False
    assert metric.detail is not None and metric.detail.startswith("template error: missing")
    assert "town" in metric.detail


def test_a_case_index_outside_the_cases_gets_no_variables() -> None:
    contains = plan({"type": "contains", "value": "{{ city }}"}, cases=[{"city": "Paris"}])
    metric = verdict(contains, result("Paris", case=7))
    assert metric.passed is False and "template error" in (metric.detail or "")


def test_not_contains() -> None:
    refuses = plan({"type": "not_contains", "value": "sorry", "case_sensitive": False})
    assert verdict(refuses, result("Here you go")).passed is True
    bad = verdict(refuses, result("Sorry, I cannot"))
    assert bad.passed is False and bad.detail == "output contains 'sorry'"


def test_equals_strips_by_default_and_can_compare_exactly() -> None:
    equals = plan({"type": "equals", "value": " 42 "})
    assert verdict(equals, result("42\n")).passed is True
    exact = plan({"type": "equals", "value": "42", "strip": False})
    bad = verdict(exact, result("42\n"))
    assert bad.passed is False and bad.detail == "expected '42', got '42\\n'"


def test_regex_searches_anywhere_in_the_output() -> None:
    regex = plan({"type": "regex", "pattern": r"\d{3}-\d{4}"})
    assert verdict(regex, result("call 555-1234 now")).passed is True
    bad = verdict(regex, result("no number"))
    assert bad.passed is False and bad.detail == r"no match for /\d{3}-\d{4}/"


def test_regex_matches_characters_not_bytes_in_non_ascii_output() -> None:
    # The output is searched as UTF-8 bytes: "." is still one character, classes still
    # Unicode, anchors still the text's ends.
    three = plan({"type": "regex", "pattern": "^.{3}$"})
    assert verdict(three, result("日本語")).passed is True
    assert verdict(three, result("日本")).passed is False
    han = plan({"type": "regex", "pattern": r"^\p{Han}+ \w+é$"})
    assert verdict(han, result("北京 café")).passed is True
    assert verdict(han, result("Paris café")).passed is False


def test_regex_pattern_may_use_case_variables() -> None:
    regex = plan({"type": "regex", "pattern": "^{{ word }}$"}, cases=[{"word": "yes"}])
    assert verdict(regex, result("yes")).passed is True
    assert verdict(regex, result("yes!")).passed is False


def recorded_plan(*assertions: dict[str, Any]) -> RunPlan:
    """A plan of assertions as an event recorded before definitions were validated holds them."""
    return RunPlan.compile(ASSERTIONS.validate_python(list(assertions), context=RECORDED), [])


def test_an_invalid_regex_fails_with_the_error_named_and_never_raises() -> None:
    regex = recorded_plan({"type": "regex", "pattern": "(unclosed"})
    for _ in range(2):  # the compile error is remembered, not re-raised
        metric = verdict(regex, result("anything"))
        assert metric.passed is False and metric.value == 0.0
        assert metric.detail is not None
        assert metric.detail == "invalid regex '(unclosed': missing ): (unclosed (RE2 syntax)"


def test_regex_runs_in_linear_time_so_no_pattern_stalls_the_evaluator() -> None:
    # Python's backtracking `re` takes exponential time here (it would hit the test timeout);
    # RE2 answers at once.
    regex = plan({"type": "regex", "pattern": "(a+)+$"})
    assert verdict(regex, result("a" * 5000 + "!")).passed is False
    assert verdict(regex, result("a" * 5000)).passed is True


def test_backreferences_and_lookaround_are_refused_as_invalid_not_run() -> None:
    for pattern, reason in ((r"(a)\1", "invalid escape sequence"), ("a(?=b)", "perl operator")):
        metric = verdict(recorded_plan({"type": "regex", "pattern": pattern}), result("aa ab"))
        assert metric.passed is False and metric.detail is not None
        assert reason in metric.detail and "RE2 syntax" in metric.detail


def test_is_json() -> None:
    is_json = plan({"type": "is_json"})
    assert verdict(is_json, result('{"a": [1, 2]}')).passed is True
    bad = verdict(is_json, result("{'a': 1}"))
    assert bad.passed is False
    assert bad.detail == (
        "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    )


SCHEMA = {
    "type": "object",
    "required": ["city", "population"],
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
}


def test_json_schema_passes_a_matching_document() -> None:
    schema = plan({"type": "json_schema", "schema": SCHEMA})
    assert verdict(schema, result('{"city": "Rome", "population": 2800000}')).passed is True


def test_json_schema_failure_names_the_path_and_the_rule() -> None:
    schema = plan({"type": "json_schema", "schema": SCHEMA})
    bad = verdict(schema, result('{"city": 5, "population": 1}'))
    assert bad.passed is False and bad.detail == "$.city: 5 is not of type 'string'"
    missing = verdict(schema, result('{"city": "Rome"}'))
    assert missing.detail == "$: 'population' is a required property"


def test_json_schema_on_output_that_is_not_json_says_so() -> None:
    schema = plan({"type": "json_schema", "schema": SCHEMA})
    bad = verdict(schema, result("Rome has 2.8M people"))
    assert bad.passed is False
    assert bad.detail == "not JSON: Expecting value: line 1 column 1 (char 0)"


def test_json_schema_checks_formats() -> None:
    schema = plan({"type": "json_schema", "schema": {"type": "string", "format": "email"}})
    assert verdict(schema, result('"ann@example.com"')).passed is True
    assert verdict(schema, result('"not an email"')).passed is False


def test_an_invalid_schema_fails_every_result_with_the_reason() -> None:
    schema = recorded_plan({"type": "json_schema", "schema": {"type": "no-such-type"}})
    metric = verdict(schema, result("{}"))
    assert metric.passed is False
    assert metric.detail is not None and metric.detail.startswith("invalid schema: ")


def test_an_unresolvable_ref_fails_instead_of_raising() -> None:
    schema = plan({"type": "json_schema", "schema": {"$ref": "https://example.invalid/s.json"}})
    metric = verdict(schema, result("{}"))
    assert metric.passed is False
    assert metric.detail is not None and metric.detail.startswith("schema error: ")


def test_max_latency() -> None:
    fast = plan({"type": "max_latency_ms", "threshold": 500})
    assert verdict(fast, result("x", latency=500)).passed is True
    slow = verdict(fast, result("x", latency=812.4))
    assert slow.passed is False and slow.detail == "latency 812 ms > 500 ms"


def test_a_failed_call_fails_every_output_assertion_with_no_output() -> None:
    every = plan(
        {"type": "contains", "value": "a"},
        {"type": "not_contains", "value": "a"},
        {"type": "equals", "value": "a"},
        {"type": "regex", "pattern": "a"},
        {"type": "is_json"},
        {"type": "json_schema", "schema": SCHEMA},
        {"type": "max_latency_ms", "threshold": 1000},
    )
    failed = result(None, error="provider timeout after 30 s", latency=30)
    metrics = every.evaluate(failed)[-7:]
    for metric in metrics[:6]:
        assert (metric.value, metric.passed) == (0.0, False)
        assert metric.detail == "no output: provider timeout after 30 s"
    assert metrics[6].passed is True  # latency is still judged


def test_details_are_short() -> None:
    equals = plan({"type": "equals", "value": "x"})
    metric = verdict(equals, result("y" * 10_000))
    assert metric.detail is not None and len(metric.detail) == DETAIL_CHARS
    assert metric.detail.endswith("…")


def test_metric_names_default_to_type_and_index_and_stay_unique() -> None:
    assertions = ASSERTIONS.validate_python(
        [
            {"type": "contains", "value": "a"},
            {"type": "regex", "pattern": "b", "name": "has_b"},
            {"type": "is_json", "name": "latency_ms"},  # clashes with a standard metric
            {"type": "equals", "value": "c", "name": "has_b"},  # clashes with an assertion
        ]
    )
    assert assertion_names(assertions) == ["contains_0", "has_b", "latency_ms_2", "has_b_3"]
    metrics = RunPlan.compile(assertions, []).evaluate(result("a"))
    assert [m.name for m in metrics[-4:]] == ["contains_0", "has_b", "latency_ms_2", "has_b_3"]
