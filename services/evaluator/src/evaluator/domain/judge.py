"""LLM-as-judge, the pure part: the question put to the judge model, the structured answer asked
for, reading that answer, and the assertion's outcome from a ``Judgement``.

Invariants:
- The judge is asked for one JSON object: ``{"scores": {<dimension>: {"score": 0-100,
  "reason": "..."}}}`` with every dimension of the rubric and nothing else; the JSON Schema
  travels as structured output (OpenAI-compatible providers enforce it) and in the
  instructions (for providers that do not).
- An answer is usable only when it is that object with every score a finite number in
  [0, 100] and every reason a string; anything else (not JSON, a missing dimension, 101, -1,
  ``"80"``, NaN) is a problem string, never a score. The caller asks again, bounded, then
  records a judge error.
- The overall score is the weight-weighted mean of the dimension scores.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from evaluator.domain.subject import Outcome, Subject, short
from promptworks_contracts.api.completions import CompletionMessage, ResponseFormat
from promptworks_contracts.values import DimensionScore, JudgeAssertion, JudgeDimension, Judgement
from promptworks_eventkit.templating import TemplateError, render

SCHEMA_NAME: Final = "judgement"
MAX_QUOTED_CHARS: Final = 20_000
"""Output, expected output and variables are quoted to the judge up to this many characters."""
MAX_REASON_CHARS: Final = 2000

SYSTEM: Final = """You are a strict, impartial evaluator of answers produced by a language model.
Score the answer on each dimension of the rubric from 0 (worst) to 100 (best), as an integer,
with a short reason for each score. Judge only what is in the answer.
Reply with ONLY a JSON object valid under this JSON Schema, no other text:
{schema}"""


def answer_schema(dimensions: Sequence[JudgeDimension]) -> dict[str, Any]:
    """The JSON Schema of the judge's answer (strict-mode compatible: every property required,
    no additional properties; the range is checked on reading, not by the provider)."""
    entry = {
        "type": "object",
        "properties": {
            "score": {"type": "integer", "description": "0 (worst) to 100 (best)"},
            "reason": {"type": "string"},
        },
        "required": ["score", "reason"],
        "additionalProperties": False,
    }
    names = [d.name for d in dimensions]
    return {
        "type": "object",
        "properties": {
            "scores": {
                "type": "object",
                "properties": dict.fromkeys(names, entry),
                "required": names,
                "additionalProperties": False,
            }
        },
        "required": ["scores"],
        "additionalProperties": False,
    }


def response_format(dimensions: Sequence[JudgeDimension]) -> ResponseFormat:
    return ResponseFormat(name=SCHEMA_NAME, json_schema=answer_schema(dimensions))


def _quoted(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)
    return short(text, MAX_QUOTED_CHARS)


def judge_messages(assertion: JudgeAssertion, subject: Subject) -> list[CompletionMessage]:
    """The question for one result: the rubric, the criteria (rendered with the case's
    variables), the case's variables, its expected output when it has one, and the answer.
    Raises ``TemplateError`` when the criteria do not render for this case."""
    schema = json.dumps(answer_schema(assertion.dimensions), ensure_ascii=False)
    rubric = "\n".join(
        f"- {d.name}" + (f": {d.description}" if d.description else "")
        for d in assertion.dimensions
    )
    parts = [f"Rubric (score every dimension):\n{rubric}"]
    if assertion.criteria:
        parts.append(f"What a good answer is:\n{render(assertion.criteria, subject.variables)}")
    if subject.variables:
        parts.append(f"The request's variables:\n{_quoted(dict(subject.variables))}")
    if subject.expected is not None:
        parts.append(f"A reference answer:\n{_quoted(subject.expected)}")
    parts.append(f"The answer to judge:\n<answer>\n{_quoted(subject.output or '')}\n</answer>")
    return [
        CompletionMessage(role="system", content=SYSTEM.format(schema=schema)),
        CompletionMessage(role="user", content="\n\n".join(parts)),
    ]


def ask_again(problem: str) -> str:
    """The follow-up after an unusable answer (the answer itself is quoted back before it)."""
    return (
        f"That reply cannot be used: {problem}. Reply again with only the JSON object, every "
        "dimension scored with an integer from 0 to 100 and a reason."
    )


def read_answer(
    text: str, dimensions: Sequence[JudgeDimension]
) -> tuple[list[DimensionScore], None] | tuple[None, str]:
    """The scores in the judge's answer, or (None, why the answer is unusable)."""
    try:
        answer = json.loads(_unfenced(text))
    except (ValueError, RecursionError):
        return None, short(f"not JSON: {text!r}", 200)
    scores = answer.get("scores") if isinstance(answer, dict) else None
    if not isinstance(scores, dict):
        return None, "no `scores` object"
    read: list[DimensionScore] = []
    for dimension in dimensions:
        entry = scores.get(dimension.name)
        if not isinstance(entry, dict):
            return None, f"dimension {dimension.name!r} is missing"
        score, reason = entry.get("score"), entry.get("reason")
        if isinstance(score, bool) or not isinstance(score, int | float):
            return None, f"{dimension.name}: score {score!r} is not a number"
        if not math.isfinite(score) or not 0 <= score <= 100:
            return None, f"{dimension.name}: score {score!r} is off the 0-100 scale"
        if not isinstance(reason, str):
            return None, f"{dimension.name}: reason is not a string"
        read.append(
            DimensionScore(
                dimension=dimension.name, score=float(score), reason=reason[:MAX_REASON_CHARS]
            )
        )
    return read, None


def _unfenced(text: str) -> str:
    """Models without structured output often wrap JSON in a Markdown code fence."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        body = stripped[3:-3]
        return body.split("\n", 1)[1] if "\n" in body else body
    return stripped


def overall(scores: Sequence[DimensionScore], dimensions: Sequence[JudgeDimension]) -> float:
    weights = {d.name: d.weight for d in dimensions}
    total = sum(weights[s.dimension] for s in scores)
    return sum(s.score * weights[s.dimension] for s in scores) / total


def criteria_problem(assertion: JudgeAssertion, subject: Subject) -> str | None:
    """Why the judge cannot be asked about this result (no output, criteria that do not
    render), or None."""
    if subject.output is None:
        return short(f"no output: {subject.error or 'the call returned nothing'}")
    if assertion.criteria:
        try:
            render(assertion.criteria, subject.variables)
        except TemplateError as error:
            return short(f"template error in criteria: {error}")
    return None


def judge_outcome(judgement: Judgement | None, threshold: float, problem: str | None) -> Outcome:
    """The judge assertion's outcome: the overall score against the threshold; a judge error
    (or no judgement) fails it with no score."""
    if problem is not None:
        return Outcome(False, problem)
    if judgement is None:
        return Outcome(False, "not judged")
    if judgement.error is not None or judgement.score is None:
        return Outcome(False, short(f"judge error: {judgement.error}"))
    if judgement.score >= threshold:
        return Outcome(True, score=judgement.score)
    return Outcome(
        False, f"judge score {judgement.score:.1f} < {threshold:g}", score=judgement.score
    )


def dimension_metric(name: str, dimension: str) -> str:
    return f"{name}.{dimension}"


def dimension_values(judgement: Judgement | None) -> Mapping[str, float]:
    if judgement is None or judgement.error is not None:
        return {}
    return {s.dimension: s.score for s in judgement.scores}
