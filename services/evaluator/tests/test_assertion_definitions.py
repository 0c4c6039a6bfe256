"""Assertion definitions are validated by the contract itself, so the run request carrying
an invalid one is refused (422 naming ``assertions.<i>``) before any model is called; events
and rows recorded before that validation existed are still read (``RECORDED``)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from promptworks_contracts.values import RECORDED, Assertion, RegexAssertion

ASSERTIONS = TypeAdapter(list[Assertion])


class Request(BaseModel):
    """Stands for any request body that carries assertions (the run-orchestrator's does)."""

    assertions: list[Assertion] = Field(default_factory=list)


def refusal(assertions: list[dict[str, Any]]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        Request.model_validate({"assertions": assertions})
    first = caught.value.errors()[0]
    return ".".join(str(part) for part in first["loc"]), first["msg"]


def test_an_invalid_regex_is_refused_naming_the_assertion_and_the_reason() -> None:
    where, why = refusal([{"type": "contains", "value": "a"}, {"type": "regex", "pattern": "(x"}])
    assert where.startswith("assertions.1.")
    assert why == "Value error, invalid regex '(x': missing ): (x (RE2 syntax)"


def test_a_pattern_re2_cannot_run_is_refused_too() -> None:
    _, why = refusal([{"type": "regex", "pattern": "a(?=b)"}])
    assert "RE2 syntax" in why


def test_a_templated_pattern_is_checked_per_case_when_evaluated_not_at_creation() -> None:
    (regex,) = ASSERTIONS.validate_python([{"type": "regex", "pattern": "^{{ word }}("}])
    assert isinstance(regex, RegexAssertion)


def test_an_invalid_json_schema_is_refused_naming_where_in_the_schema() -> None:
    where, why = refusal([{"type": "json-schema", "schema": {"properties": {"a": {"type": 5}}}}])
    assert where.startswith("assertions.0.")
    assert why.startswith("Value error, invalid schema at /properties/a/type: ")


@pytest.mark.parametrize(
    "definition",
    [
        {"type": "json_field", "path": "no-leading-slash", "value": 1},
        {"type": "json_field", "path": "/a~2", "value": 1},  # ~ escapes only 0 and 1
        {"type": "json_field", "path": "/a", "op": "gt", "value": "ten"},
        {"type": "json_field", "path": "/a", "op": "lt", "value": True},
        {"type": "similarity", "threshold": 1.5},
        {"type": "bleu", "tokenize": "spaces"},
        {"type": "levenshtein"},  # the largest distance is required
        {"type": "contains_any", "values": []},
        {"type": "contains", "value": "a", "weight": -1},
        {"type": "max_cost", "threshold": "-0.1"},
        {"type": "rouge-3"},
    ],
)
def test_other_invalid_definitions_are_refused(definition: dict[str, Any]) -> None:
    where, _ = refusal([definition])
    assert where.startswith("assertions.0")


def test_existing_definitions_keep_their_shape() -> None:
    original = [
        {"type": "contains", "value": "a", "case_sensitive": False, "name": "has_a"},
        {"type": "not_contains", "value": "b"},
        {"type": "equals", "value": "c", "strip": False},
        {"type": "regex", "pattern": r"\d+"},
        {"type": "is_json"},
        {"type": "json_schema", "schema": {"type": "object"}},
        {"type": "max_latency_ms", "threshold": 500},
    ]
    parsed = ASSERTIONS.validate_python(original)
    dumped = [a.model_dump(mode="json") for a in parsed]
    for before, after in zip(original, dumped, strict=True):
        assert before.items() <= after.items()  # same type name, same fields, same values
        assert after["weight"] == 1.0  # the new field has a neutral default
    assert ASSERTIONS.validate_python(dumped) == parsed


def test_recorded_definitions_are_read_without_the_creation_checks() -> None:
    recorded = [{"type": "regex", "pattern": "(x"}, {"type": "json_schema", "schema": {"type": 5}}]
    assert len(ASSERTIONS.validate_python(recorded, context=RECORDED)) == 2
