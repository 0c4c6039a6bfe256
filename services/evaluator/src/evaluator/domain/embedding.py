"""Embedding similarity, the pure part: the texts to embed for one result (its output and the
reference), the cosine of two vectors, and the assertion's outcome from an
``EmbeddingComparison``.

Invariants:
- The reference is the assertion's ``value`` (rendered with the case's variables), else the
  case's ``expected`` (non-string values as compact JSON), exactly as the other similarity
  checks (``subject.Reference``).
- A result without output, or without a reference, is not embedded: the check fails with why.
- A similarity is never made up: an embedding error fails the check with no value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple
from uuid import UUID

from evaluator.domain.subject import (
    MissingReferenceError,
    Outcome,
    Reference,
    Subject,
    short,
)
from promptworks_contracts.values import EmbeddingComparison, EmbeddingSimilarityAssertion
from promptworks_eventkit.templating import TemplateError


class EmbeddingQuestion(NamedTuple):
    """One embedding assertion about one result: the two texts to compare, embedded with the
    assertion's (provider, model) in the run's project."""

    result_id: UUID
    name: str
    assertion: EmbeddingSimilarityAssertion
    output: str
    reference: str
    run_id: str
    project: str


def texts(
    assertion: EmbeddingSimilarityAssertion, reference: Reference, subject: Subject
) -> tuple[str, str] | str:
    """(output, reference) to embed, or why they cannot be had."""
    if subject.output is None:
        return short(f"no output: {subject.error or 'the call returned nothing'}")
    try:
        return subject.output, reference.value(subject)
    except TemplateError as error:
        return short(f"template error: {error}")
    except MissingReferenceError as error:
        return short(str(error))


def cosine(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Cosine similarity in [-1, 1]; None for vectors of different sizes or a zero vector."""
    if len(a) != len(b) or not a:
        return None
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    if norm == 0.0 or not math.isfinite(norm):
        return None
    return max(-1.0, min(1.0, dot / norm))


def embedding_outcome(
    comparison: EmbeddingComparison | None, threshold: float, problem: str | None
) -> Outcome:
    if problem is not None:
        return Outcome(False, problem)
    if comparison is None:
        return Outcome(False, "not measured")
    if comparison.error is not None or comparison.similarity is None:
        return Outcome(False, short(f"embedding error: {comparison.error}"))
    similarity = comparison.similarity
    if similarity >= threshold:
        return Outcome(True, score=similarity)
    return Outcome(False, f"embedding similarity {similarity:.4f} < {threshold:g}", similarity)
