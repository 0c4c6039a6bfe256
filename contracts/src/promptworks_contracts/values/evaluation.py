"""What an evaluation measures: per-result metrics and checks, per-run summaries and statistics,
judgements, embedding comparisons and optimisation advice."""

from __future__ import annotations

from pydantic import (
    Field,
)

from promptworks_contracts.values._base import _Value
from promptworks_contracts.values.models import ModelRef, Money, TokenUsage
from promptworks_contracts.values.prompts import PromptTemplate


class MetricValue(_Value):
    """One measured quantity of one result. ``passed`` is set for assertions only."""

    name: str = Field(min_length=1, max_length=200)
    value: float | None = None
    passed: bool | None = None
    detail: str | None = Field(default=None, max_length=2000)


class MetricSummary(_Value):
    name: str
    count: int = Field(ge=0)
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    pass_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    passed: int | None = Field(default=None, ge=0, description="Results that passed it.")
    judged: int | None = Field(default=None, ge=0, description="Results with a verdict.")
    pass_rate_interval: Interval | None = Field(
        default=None, description="95 % Wilson score interval of `pass_rate`."
    )
    std: float | None = Field(
        default=None, ge=0.0, description="Sample standard deviation of the values (n - 1)."
    )
    mean_interval: Interval | None = Field(
        default=None, description="95 % confidence interval of `mean` (Student's t)."
    )


class Interval(_Value):
    """A 95 % confidence interval."""

    low: float
    high: float


class AssertionFailure(_Value):
    """Why a result failed: one assertion (or ``error``, the call itself) and by how much:
    ``value`` is what was measured, ``threshold`` what it had to reach (``value`` 0.31 against
    ``threshold`` 0.5 for a BLEU check; none for a plain yes/no check)."""

    name: str = Field(max_length=200)
    type: str = Field(max_length=64)
    detail: str | None = Field(default=None, max_length=2000)
    value: float | None = None
    threshold: float | None = None
    weight: float = 1.0


class TypeMismatch(_Value):
    path: str = Field(description="JSON pointer into the output.")
    expected: str = Field(description="The JSON type wanted (or the schema's `type`).")
    actual: str


class OutputChecks(_Value):
    """The original product's metrics of one output, against the case's ``expected`` output
    and the run's JSON Schemas. ``None`` = not applicable (no expected value of that kind)."""

    is_valid_json: bool
    schema_pass: bool | None = None
    missing_fields: list[str] = Field(default_factory=list, description="JSON pointers.")
    type_mismatches: list[TypeMismatch] = Field(default_factory=list)
    numeric_accuracy: float | None = Field(default=None, ge=0.0, le=1.0)
    boolean_accuracy: float | None = Field(default=None, ge=0.0, le=1.0)


class LatencySummary(_Value):
    """Over the results of a run (milliseconds); percentiles interpolate linearly between
    order statistics (numpy's default)."""

    count: int = Field(ge=0)
    mean: float
    p50: float
    p95: float
    p99: float
    max: float


class PassAtK(_Value):
    """The chance that at least one of k repetitions of a case passes (the unbiased estimator
    1 - C(n-c, k) / C(n, k)), averaged over the cases with at least k repetitions."""

    k: int = Field(ge=1)
    value: float = Field(ge=0.0, le=1.0)
    cases: int = Field(ge=0)


class CaseStatistics(_Value):
    """Per case across its repetitions."""

    cases: int = Field(ge=0, description="Cases with at least one result.")
    repeated: int = Field(ge=0, description="Cases with two or more results.")
    flaky: int = Field(ge=0, description="Cases whose results both pass and fail.")
    flaky_cases: list[int] = Field(
        default_factory=list, description="Indexes of the flaky cases (the first 1,000)."
    )
    flakiness: float | None = Field(default=None, description="flaky / repeated.")
    pass_at_k: list[PassAtK] = Field(default_factory=list)
    consistency_score: float | None = Field(
        default=None,
        description="Mean over repeated cases of the share of repetitions giving the case's "
        "most frequent output (JSON compared as values, text stripped).",
    )


class DimensionScore(_Value):
    dimension: str
    score: float = Field(ge=0.0, le=100.0)
    reason: str = Field(max_length=2000)


class Judgement(_Value):
    """One judge assertion's answer for one result: a score per dimension with its reason and
    the weighted mean, or ``error`` (the judge could not be called, or answered off the scale
    or malformed ``attempts`` times); never both."""

    name: str = Field(description="The assertion's metric name.")
    model: ModelRef
    scores: list[DimensionScore] = Field(default_factory=list)
    score: float | None = Field(default=None, ge=0.0, le=100.0)
    error: str | None = Field(default=None, max_length=2000)
    attempts: int = Field(ge=0)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    cost: Money | None = Field(default=None, description="All attempts; null: price unknown.")


class EmbeddingComparison(_Value):
    """One embedding assertion's measurement for one result: the cosine similarity of the
    output's and the reference's embeddings, or ``error`` (no similarity); ``usage`` and
    ``cost`` are the embedding calls this result caused (a text already embedded in the run
    costs nothing again)."""

    name: str = Field(description="The assertion's metric name.")
    model: ModelRef
    similarity: float | None = Field(default=None, ge=-1.0, le=1.0)
    error: str | None = Field(default=None, max_length=2000)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    cost: Money | None = Field(default=None, description="null: nothing paid, or unpriced.")


class OptimisationAdvice(_Value):
    """A judge model's advice on a finished run, as the original product offered it: overall,
    parameter and model advice, a proposed revision of the template (the whole template, the
    same kind as the run's) and how to validate it."""

    overall_advice: str = Field(max_length=20_000)
    parameter_advice: str = Field(max_length=20_000)
    model_advice: str = Field(max_length=20_000)
    prompt_revision: PromptTemplate
    revision_rationale: str = Field(default="", max_length=20_000)
    validation_plan: str = Field(max_length=20_000)
