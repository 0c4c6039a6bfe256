"""The judge's pure part: the question, the schema asked for, reading answers (off the scale
and malformed ones are problems, never scores), the weighted score, and the contract's rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from evaluator.domain.judge import answer_schema, judge_messages, overall, read_answer
from evaluator.domain.plan import RunPlan, metric_names
from evaluator.domain.subject import Subject
from promptworks_contracts.values import (
    DEFAULT_JUDGE_DIMENSIONS,
    Assertion,
    JudgeAssertion,
    JudgeDimension,
)

DIMS = [JudgeDimension(name="accuracy", weight=3), JudgeDimension(name="clarity")]


def answer(**entries: Any) -> str:
    return json.dumps({"scores": entries})


def test_a_valid_answer_is_read_and_weighted() -> None:
    scores, problem = read_answer(
        answer(accuracy={"score": 80, "reason": "right"}, clarity={"score": 40, "reason": "dense"}),
        DIMS,
    )
    assert problem is None and scores is not None
    assert [(s.dimension, s.score, s.reason) for s in scores] == [
        ("accuracy", 80.0, "right"),
        ("clarity", 40.0, "dense"),
    ]
    assert overall(scores, DIMS) == (3 * 80 + 40) / 4


def test_a_fenced_answer_is_read() -> None:
    text = "```json\n" + answer(
        accuracy={"score": 0, "reason": ""}, clarity={"score": 100, "reason": ""}
    )
    scores, _ = read_answer(text + "\n```", DIMS)
    assert scores is not None and [s.score for s in scores] == [0.0, 100.0]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("8/10, good", "not JSON"),
        ("[1, 2]", "no `scores` object"),
        (answer(accuracy={"score": 80, "reason": "r"}), "dimension 'clarity' is missing"),
        (
            answer(accuracy={"score": 101, "reason": "r"}, clarity={"score": 5, "reason": "r"}),
            "accuracy: score 101 is off the 0-100 scale",
        ),
        (
            answer(accuracy={"score": -1, "reason": "r"}, clarity={"score": 5, "reason": "r"}),
            "off the 0-100 scale",
        ),
        (
            answer(accuracy={"score": "80", "reason": "r"}, clarity={"score": 5, "reason": "r"}),
            "accuracy: score '80' is not a number",
        ),
        (
            answer(accuracy={"score": True, "reason": "r"}, clarity={"score": 5, "reason": "r"}),
            "is not a number",
        ),
        ('{"scores": {"accuracy": {"score": NaN, "reason": "r"}}}', "off the 0-100 scale"),
        (
            answer(accuracy={"score": 5}, clarity={"score": 5, "reason": "r"}),
            "accuracy: reason is not a string",
        ),
    ],
)
def test_unusable_answers_are_problems_never_scores(text: str, problem: str) -> None:
    scores, found = read_answer(text, DIMS)
    assert scores is None
    assert found is not None and problem in found


def test_the_schema_asks_for_every_dimension_and_nothing_else() -> None:
    schema = answer_schema(DIMS)
    inner = schema["properties"]["scores"]
    assert inner["required"] == ["accuracy", "clarity"]
    assert inner["additionalProperties"] is False
    assert inner["properties"]["accuracy"]["required"] == ["score", "reason"]


def test_the_question_quotes_rubric_criteria_variables_expected_and_answer() -> None:
    judge = JudgeAssertion(
        provider="mock", model="judge", criteria="Must name {{ city }}'s river", dimensions=DIMS
    )
    subject = Subject(
        case_index=0,
        variables={"city": "Paris"},
        output="The Seine.",
        error=None,
        latency_ms=1.0,
        expected="Seine",
    )
    system, user = judge_messages(judge, subject)
    assert system.role == "system" and '"required": ["accuracy", "clarity"]' in system.content
    assert "Must name Paris's river" in user.content
    assert '"city": "Paris"' in user.content
    assert "A reference answer:\nSeine" in user.content
    assert "<answer>\nThe Seine.\n</answer>" in user.content


def test_the_default_rubric_is_the_original_products() -> None:
    judge = JudgeAssertion(provider="mock", model="judge")
    assert [d.name for d in judge.dimensions] == ["准确性", "完整性", "清晰度", "稳定性"]
    assert judge.dimensions == list(DEFAULT_JUDGE_DIMENSIONS)


def test_judge_definitions_are_validated_with_the_run() -> None:
    adapter = TypeAdapter(list[Assertion])
    with pytest.raises(ValidationError, match="dimension names must be unique"):
        adapter.validate_python(
            [{"type": "llm_judge", "provider": "p", "model": "m", "dimensions": [DIMS[0]] * 2}]
        )
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        adapter.validate_python(
            [{"type": "judge", "provider": "p", "model": "m", "threshold": 101}]
        )
    with pytest.raises(ValidationError, match="max_attempts"):
        adapter.validate_python(
            [{"type": "judge", "provider": "p", "model": "m", "max_attempts": 9}]
        )


def test_a_plan_reports_a_metric_per_dimension_and_fails_an_unjudged_result() -> None:
    judge = JudgeAssertion(provider="mock", model="judge", dimensions=DIMS, name="quality")
    assert metric_names([judge])[-3:] == ["quality", "quality.accuracy", "quality.clarity"]
    plan = RunPlan.compile([judge], [{}])
    assert plan.has_judges
