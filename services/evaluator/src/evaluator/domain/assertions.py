"""Assertions: one small check per assertion type, chosen through ONE table (``PREPARERS``,
keyed by the canonical snake_case type; ``contains-any`` is ``contains_any``).

Invariants:
- A check never raises (see ``subject``): it fails with a detail that names the problem.
- Expensive work happens once per run plan, not per result: regexes, schema validators and
  scorers are built when the check is prepared, templated values rendered once per case.
- String values may use the case's variables as ``{{ name }}``; a regex pattern is rendered
  first, then compiled.
- A result without output (the call failed) fails every output assertion with
  ``no output: <error>``; latency and cost thresholds still judge it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from evaluator.domain import checks_json, checks_limits, checks_similarity, checks_text
from evaluator.domain.subject import DETAIL_CHARS, PASSED, Check, Outcome, Subject, short
from promptworks_contracts.values import Assertion, canonical_type

PREPARERS: Final[Mapping[str, Callable[[Any], Check]]] = {
    "contains": checks_text.contains,
    "icontains": checks_text.contains,
    "contains_any": checks_text.contains_any,
    "contains_all": checks_text.contains_all,
    "not_contains": checks_text.not_contains,
    "equals": checks_text.equals,
    "starts_with": checks_text.starts_with,
    "ends_with": checks_text.ends_with,
    "regex": checks_text.regex,
    "is_json": checks_json.is_json,
    "json_schema": checks_json.json_schema,
    "json_field": checks_json.json_field,
    "levenshtein": checks_similarity.levenshtein,
    "similarity": checks_similarity.similarity,
    "bleu": checks_similarity.bleu,
    "chrf": checks_similarity.chrf,
    "rouge_1": checks_similarity.rouge,
    "rouge_2": checks_similarity.rouge,
    "rouge_l": checks_similarity.rouge,
    "max_latency_ms": checks_limits.max_latency_ms,
    "max_cost": checks_limits.max_cost,
    # Judged asynchronously before the plan runs (``plan.RunPlan.judge_questions``): a judge
    # assertion checked without its judgement fails.
    "llm_judge": lambda _: _not_judged,
    # Measured the same way (``plan.RunPlan.embedding_questions``).
    "embedding_similarity": lambda _: _not_measured,
}
"""Canonical assertion type -> the function that compiles it into a check (the only dispatch)."""


def _not_judged(_: Subject) -> Outcome:
    return Outcome(False, "not judged")


def _not_measured(_: Subject) -> Outcome:
    return Outcome(False, "not measured")


def prepare(assertion: Assertion) -> Check:
    """Compiles one assertion of the contracts' ``Assertion`` union into its check."""
    return PREPARERS[canonical_type(assertion.type)](assertion)


__all__ = ["DETAIL_CHARS", "PASSED", "PREPARERS", "Check", "Outcome", "Subject", "prepare", "short"]
