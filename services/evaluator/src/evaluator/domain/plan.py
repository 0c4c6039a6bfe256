"""A run's evaluation plan: its assertions compiled once, applied to each of its results, and
the result's verdict (``Evaluation``).

Invariants:
- Metric names are unique within a run: an assertion's name is ``assertion.name`` or
  ``<canonical type>_<index in the run's list>``; a name already taken (by a standard metric,
  an output metric or an earlier assertion) gets ``_<index>`` appended, so running statistics
  never mix two checks.
- A plan is a pure function of the run's ``RunCreated`` (assertions, cases, expected outputs),
  so it may be cached per run for as long as the process lives.
- A result passes when its call succeeded and every assertion of weight > 0 passed; its
  ``reasons`` name each of those that failed (and the call's error), with what was measured
  and the threshold. Its ``score`` is the weighted share of those assertions that passed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

from jsonschema import Draft202012Validator

from evaluator.domain.assertions import Check, Subject, prepare
from evaluator.domain.checks_json import schema_validator
from evaluator.domain.embedding import EmbeddingQuestion, embedding_outcome, texts
from evaluator.domain.judge import (
    criteria_problem,
    dimension_metric,
    dimension_values,
    judge_outcome,
)
from evaluator.domain.metrics import (
    OUTPUT_METRICS,
    STANDARD_METRICS,
    metric_values,
    output_metric_values,
    standard_metric_values,
)
from evaluator.domain.output_checks import output_checks
from evaluator.domain.subject import Reference
from promptworks_contracts.events import ResultRecorded
from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_contracts.values import (
    Assertion,
    AssertionFailure,
    EmbeddingComparison,
    EmbeddingSimilarityAssertion,
    JsonSchemaAssertion,
    JudgeAssertion,
    Judgement,
    MetricValue,
    OutputChecks,
    canonical_type,
)

_NO_VARIABLES: Mapping[str, Any] = {}


def uses_output_metrics(assertions: Sequence[Assertion], expected: Sequence[Any]) -> bool:
    """The original product's metrics apply when a case gives an expected output or the run a
    JSON Schema; other runs' results do not carry them."""
    return any(value is not None for value in expected) or any(
        isinstance(a, JsonSchemaAssertion) for a in assertions
    )


def assertion_names(assertions: Sequence[Assertion], *, output_metrics: bool = False) -> list[str]:
    taken = set(STANDARD_METRICS) | (set(OUTPUT_METRICS) if output_metrics else set())
    names: list[str] = []
    for index, assertion in enumerate(assertions):
        name = assertion.name or f"{canonical_type(assertion.type)}_{index}"
        if name in taken:
            name = f"{name}_{index}"
        taken.add(name)
        names.append(name)
    return names


def metric_names(assertions: Sequence[Assertion], expected: Sequence[Any] = ()) -> list[str]:
    """Every metric a run's results carry, in the order they are reported: a judge's metric is
    followed by one per rubric dimension (``<name>.<dimension>``, 0-100)."""
    with_output = uses_output_metrics(assertions, expected)
    names = assertion_names(assertions, output_metrics=with_output)
    return [
        *STANDARD_METRICS,
        *(OUTPUT_METRICS if with_output else ()),
        *_with_dimensions(names, assertions),
    ]


def _with_dimensions(names: Sequence[str], assertions: Sequence[Assertion]) -> list[str]:
    listed: list[str] = []
    for name, assertion in zip(names, assertions, strict=True):
        listed.append(name)
        if isinstance(assertion, JudgeAssertion):
            listed.extend(dimension_metric(name, d.name) for d in assertion.dimensions)
    return listed


class JudgeQuestion(NamedTuple):
    """One judge assertion about one result, asked in the run's project."""

    name: str
    assertion: JudgeAssertion
    subject: Subject
    project: str


@dataclass(frozen=True, slots=True)
class PlannedCheck:
    name: str
    type: str
    weight: float
    threshold: float | None
    run: Check
    judge: JudgeAssertion | None = None
    """Set for an LLM judge: its outcome comes from the judgement asked before ``judge``."""
    embedding: EmbeddingSimilarityAssertion | None = None
    """Set for an embedding similarity: its outcome comes from the comparison measured before
    ``judge`` (``reference`` is its reference text)."""
    reference: Reference | None = None


@dataclass(frozen=True)
class Evaluation:
    """One result, evaluated."""

    metric_fields: list[dict[str, Any]]
    """The metrics' fields (``MetricValue``'s, each given, in its order): the event's JSON is
    made from them (``metric_documents``) without making ~25 models per result."""
    passed: bool
    score: float | None
    reasons: list[AssertionFailure]
    is_json: bool
    parsed_output: Any
    output_checks: OutputChecks | None
    digest: str | None
    """A fingerprint of the output (JSON compared as values, text stripped); None without one."""
    judgements: list[Judgement]
    embeddings: list[EmbeddingComparison]

    @cached_property
    def metrics(self) -> list[MetricValue]:
        """The metrics as models (validated when first asked for)."""
        return metric_values(self.metric_fields)


@dataclass(frozen=True)
class RunPlan:
    checks: tuple[PlannedCheck, ...]
    cases: tuple[Mapping[str, Any], ...]
    expected: tuple[Any, ...]
    metric_names: tuple[str, ...]
    schemas: tuple[Draft202012Validator, ...]
    with_output_metrics: bool
    project: str = DEFAULT_PROJECT
    """The run's project, whose providers its judges call."""

    @classmethod
    def compile(
        cls,
        assertions: Sequence[Assertion],
        cases: Sequence[Mapping[str, Any]],
        expected: Sequence[Any] = (),
        project: str = DEFAULT_PROJECT,
    ) -> RunPlan:
        with_output = uses_output_metrics(assertions, expected)
        names = assertion_names(assertions, output_metrics=with_output)
        checks = tuple(
            PlannedCheck(
                name=name,
                type=canonical_type(assertion.type),
                weight=assertion.weight,
                threshold=_threshold(assertion),
                run=prepare(assertion),
                judge=assertion if isinstance(assertion, JudgeAssertion) else None,
                embedding=_embedding(assertion),
                reference=_reference(assertion),
            )
            for name, assertion in zip(names, assertions, strict=True)
        )
        validators = (
            schema_validator(a.json_schema)
            for a in assertions
            if isinstance(a, JsonSchemaAssertion)
        )
        return cls(
            checks=checks,
            cases=tuple(cases),
            expected=tuple(expected),
            metric_names=(
                *STANDARD_METRICS,
                *(OUTPUT_METRICS if with_output else ()),
                *_with_dimensions(names, assertions),
            ),
            schemas=tuple(v for v in validators if not isinstance(v, str)),
            with_output_metrics=with_output,
            project=project,
        )

    def variables(self, case_index: int) -> Mapping[str, Any]:
        """The case's variables; none when the run has no cases or the index is outside them
        (a templated value that needs one then fails with a ``missing variable`` detail)."""
        if 0 <= case_index < len(self.cases):
            return self.cases[case_index]
        return _NO_VARIABLES

    def expected_of(self, case_index: int) -> Any:
        return self.expected[case_index] if 0 <= case_index < len(self.expected) else None

    def evaluate(self, result: ResultRecorded) -> list[MetricValue]:
        """The result's metrics (standard, output metrics, then one per assertion)."""
        return self.judge(result).metrics

    @cached_property
    def has_judges(self) -> bool:
        # Asked once per result (``judge_questions``): worked out once per plan.
        return any(check.judge is not None for check in self.checks)

    def subject(self, result: ResultRecorded) -> Subject:
        return Subject(
            case_index=result.case_index,
            variables=self.variables(result.case_index),
            output=result.output,
            error=result.error,
            latency_ms=result.latency_ms,
            expected=self.expected_of(result.case_index),
            cost=result.cost,
        )

    def judge_questions(self, result: ResultRecorded) -> list[JudgeQuestion]:
        """What to ask a judge model about ``result``: one question per judge assertion, none
        when the call produced no output or the criteria do not render (that fails it)."""
        if not self.has_judges:
            return []
        subject = self.subject(result)
        return [
            JudgeQuestion(check.name, check.judge, subject, self.project)
            for check in self.checks
            if check.judge is not None and criteria_problem(check.judge, subject) is None
        ]

    @property
    def calls_models(self) -> bool:
        """Judges or embeddings: the run's evaluation has model calls (``judge_cost``)."""
        return self.has_judges or self.has_embeddings

    @cached_property
    def has_embeddings(self) -> bool:
        return any(check.embedding is not None for check in self.checks)

    def embedding_questions(self, result: ResultRecorded) -> list[EmbeddingQuestion]:
        """The texts to embed for ``result``: one question per embedding assertion, none when
        the result has no output or no reference (that fails it)."""
        if not self.has_embeddings:
            return []
        subject = self.subject(result)
        questions = []
        for check in self.checks:
            if check.embedding is None or check.reference is None:
                continue
            found = texts(check.embedding, check.reference, subject)
            if isinstance(found, tuple):
                questions.append(
                    EmbeddingQuestion(
                        result.result_id,
                        check.name,
                        check.embedding,
                        found[0],
                        found[1],
                        str(result.run_id),
                        self.project,
                    )
                )
        return questions

    def judge(
        self,
        result: ResultRecorded,
        judgements: Mapping[str, Judgement] | None = None,
        comparisons: Mapping[str, EmbeddingComparison] | None = None,
    ) -> Evaluation:
        """The result's evaluation; ``judgements`` are the answers to ``judge_questions`` by
        assertion name (a judge assertion without one fails), ``comparisons`` the measures of
        ``embedding_questions`` (likewise)."""
        judgements = judgements or {}
        comparisons = comparisons or {}
        # Metrics as fields first, made models in one call at the end (much cheaper).
        metrics = standard_metric_values(result)
        subject = self.subject(result)
        parsed, problem = subject.parsed() if result.output is not None else (None, "no output")
        is_json = problem is None
        checks: OutputChecks | None = None
        if self.with_output_metrics:
            findings = output_checks(result.output, parsed, problem, subject.expected, self.schemas)
            checks = findings.checks
            metrics.extend(output_metric_values(findings))
        reasons: list[AssertionFailure] = []
        if result.error is not None:
            reasons.append(AssertionFailure(name="error", type="error", detail=_cut(result.error)))
        weights = passed_weight = 0.0
        for check in self.checks:
            value: float | None
            if check.embedding is not None and check.reference is not None:
                found = texts(check.embedding, check.reference, subject)
                outcome = embedding_outcome(
                    comparisons.get(check.name),
                    check.embedding.threshold,
                    found if isinstance(found, str) else None,
                )
                value = outcome.score  # no similarity for an error: never a made-up one
            elif check.judge is None:
                outcome = check.run(subject)
                value = outcome.score if outcome.score is not None else float(outcome.passed)
            else:
                judgement = judgements.get(check.name)
                problem = None if judgement else criteria_problem(check.judge, subject)
                outcome = judge_outcome(judgement, check.judge.threshold, problem)
                value = outcome.score  # no score for a judge error: never a made-up one
            metrics.append(
                {
                    "name": check.name,
                    "value": value,
                    "passed": outcome.passed,
                    "detail": outcome.detail,
                }
            )
            if check.judge is not None:
                scores = dimension_values(judgements.get(check.name))
                metrics.extend(
                    {
                        "name": dimension_metric(check.name, d.name),
                        "value": scores.get(d.name),
                        "passed": None,
                        "detail": None,
                    }
                    for d in check.judge.dimensions
                )
            if check.weight > 0:
                weights += check.weight
                if outcome.passed:
                    passed_weight += check.weight
                else:
                    measured = outcome.measured if outcome.measured is not None else outcome.score
                    reasons.append(
                        AssertionFailure(
                            name=check.name,
                            type=check.type,
                            detail=outcome.detail,
                            value=measured,
                            threshold=check.threshold,
                            weight=check.weight,
                        )
                    )
        return Evaluation(
            metric_fields=metrics,
            passed=not reasons,
            score=passed_weight / weights if weights else None,
            reasons=reasons,
            is_json=is_json,
            parsed_output=parsed if is_json else None,
            output_checks=checks,
            digest=_digest(result.output, parsed, is_json),
            judgements=[judgements[c.name] for c in self.checks if c.name in judgements],
            embeddings=[comparisons[c.name] for c in self.checks if c.name in comparisons],
        )


def _embedding(assertion: Assertion) -> EmbeddingSimilarityAssertion | None:
    return assertion if isinstance(assertion, EmbeddingSimilarityAssertion) else None


def _reference(assertion: Assertion) -> Reference | None:
    if isinstance(assertion, EmbeddingSimilarityAssertion):
        return Reference(assertion.value)
    return None


def _threshold(assertion: Assertion) -> float | None:
    threshold = getattr(assertion, "threshold", None)
    return None if threshold is None else float(threshold)


def _cut(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _digest(output: str | None, parsed: Any, is_json: bool) -> str | None:
    if output is None:
        return None
    canonical = (
        json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if is_json
        else output.strip()
    )
    # surrogatepass: JSON may spell a lone surrogate (\ud800), which UTF-8 cannot encode.
    return hashlib.blake2b(canonical.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
