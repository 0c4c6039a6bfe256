"""The checks a run asks of every result (``Assertion``), validated when the run is created,
and the names the evaluator dispatches on."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from promptworks_contracts.values._base import _Value

RECORDED: Final = {"recorded": True}
"""Validation context for assertions read back from events or storage: their definitions were
checked when the run was created, so the (costly, and possibly stricter since) definition checks
are skipped: ``TypeAdapter(list[Assertion]).validate_python(data, context=RECORDED)``."""

_TEMPLATE_TOKENS: Final = ("{{", "{%", "{#")


def _is_templated(text: str) -> bool:
    """A value the evaluator renders with the case's variables first (checked per case then)."""
    return any(token in text for token in _TEMPLATE_TOKENS)


def _recorded(info: ValidationInfo) -> bool:
    return isinstance(info.context, dict) and bool(info.context.get("recorded"))


class _Assertion(_Value):
    """What every assertion has. A result passes when every assertion of weight > 0 passes;
    ``weight`` also weighs the assertion in the result's score (0 = report only)."""

    name: str | None = Field(
        default=None,
        max_length=100,
        description="Metric name for this check; defaults to <type>_<index in the run>.",
    )
    weight: float = Field(
        default=1.0,
        ge=0.0,
        le=1000.0,
        description="Weight in the result's score; 0 reports the check without it deciding "
        "whether the result passes.",
    )


class ContainsAssertion(_Assertion):
    type: Literal["contains"] = "contains"
    value: str = Field(min_length=1)
    case_sensitive: bool = True


class IContainsAssertion(_Assertion):
    """``contains`` ignoring case (Unicode case folding)."""

    type: Literal["icontains"] = "icontains"
    value: str = Field(min_length=1)


class ContainsAnyAssertion(_Assertion):
    type: Literal["contains_any", "contains-any"] = "contains_any"
    values: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1, max_length=1000)
    case_sensitive: bool = True


class ContainsAllAssertion(_Assertion):
    type: Literal["contains_all", "contains-all"] = "contains_all"
    values: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1, max_length=1000)
    case_sensitive: bool = True


class NotContainsAssertion(_Assertion):
    type: Literal["not_contains", "not-contains"] = "not_contains"
    value: str = Field(min_length=1)
    case_sensitive: bool = True


class EqualsAssertion(_Assertion):
    type: Literal["equals"] = "equals"
    value: str
    strip: bool = True


class StartsWithAssertion(_Assertion):
    type: Literal["starts_with", "starts-with"] = "starts_with"
    value: str = Field(min_length=1)
    case_sensitive: bool = True
    strip: bool = Field(default=True, description="Ignore leading whitespace of the output.")


class EndsWithAssertion(_Assertion):
    type: Literal["ends_with", "ends-with"] = "ends_with"
    value: str = Field(min_length=1)
    case_sensitive: bool = True
    strip: bool = Field(default=True, description="Ignore trailing whitespace of the output.")


class RegexAssertion(_Assertion):
    """An RE2 pattern searched anywhere in the output. A pattern without template syntax is
    compiled when the run is created, so an invalid one (or one RE2 refuses: backreferences,
    lookaround) is a validation error naming the assertion."""

    type: Literal["regex"] = "regex"
    pattern: str = Field(min_length=1, max_length=1000)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str, info: ValidationInfo) -> str:
        if not _recorded(info) and not _is_templated(pattern):
            problem = regex_problem(pattern)
            if problem is not None:
                raise ValueError(problem)
        return pattern


class IsJsonAssertion(_Assertion):
    type: Literal["is_json", "is-json"] = "is_json"


class JsonSchemaAssertion(_Assertion):
    """The output is JSON valid under ``schema`` (Draft 2020-12, formats checked). The schema
    itself is checked when the run is created."""

    type: Literal["json_schema", "json-schema"] = "json_schema"
    json_schema: dict[str, Any] = Field(alias="schema", serialization_alias="schema")

    model_config = ConfigDict(
        frozen=True, extra="ignore", populate_by_name=True, serialize_by_alias=True
    )

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if not _recorded(info):
            problem = schema_problem(schema)
            if problem is not None:
                raise ValueError(problem)
        return schema


Comparison = Literal["eq", "ne", "gt", "ge", "lt", "le"]


class JsonFieldAssertion(_Assertion):
    """The output is JSON and the value at ``path`` (a JSON pointer, RFC 6901: ``/items/0/id``;
    ``""`` is the whole document) compares to ``value`` with ``op``. ``eq``/``ne`` compare JSON
    values (``1`` equals ``1.0``, ``true`` is not ``1``); the others need numbers."""

    type: Literal["json_field", "json-field"] = "json_field"
    path: str = Field(max_length=1000, pattern=r"^(/([^~]|~[01])*)*$")
    op: Comparison = "eq"
    value: Any = None

    @model_validator(mode="after")
    def _ordered_needs_a_number(self) -> JsonFieldAssertion:
        if self.op not in ("eq", "ne") and not _is_number(self.value):
            raise ValueError(f"op {self.op!r} compares numbers: `value` must be a number")
        return self


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class LevenshteinAssertion(_Assertion):
    """Edit distance (rapidfuzz) between the output and ``value`` (default: the case's
    ``expected``) at most ``threshold``."""

    type: Literal["levenshtein"] = "levenshtein"
    value: str | None = None
    threshold: int = Field(ge=0, description="The largest distance that passes.")


class SimilarityAssertion(_Assertion):
    """Normalised Levenshtein similarity (rapidfuzz, 1 - distance / longer length, 0..1)
    between the output and ``value`` (default: the case's ``expected``) at least ``threshold``."""

    type: Literal["similarity", "levenshtein_similarity", "levenshtein-similarity"] = "similarity"
    value: str | None = None
    threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    case_sensitive: bool = True


BleuTokenizer = Literal["13a", "intl", "zh", "char", "none"]


class BleuAssertion(_Assertion):
    """Sentence BLEU (sacrebleu, exponential smoothing, effective order) of the output against
    ``value`` (default: the case's ``expected``), reported 0..1 (sacrebleu's score / 100)."""

    type: Literal["bleu"] = "bleu"
    value: str | None = None
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    tokenize: BleuTokenizer = Field(
        default="13a", description="sacrebleu tokenizer; zh for Chinese."
    )


class ChrfAssertion(_Assertion):
    """Sentence chrF (sacrebleu, character 6-grams, beta 2), reported 0..1."""

    type: Literal["chrf"] = "chrf"
    value: str | None = None
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)


class RougeAssertion(_Assertion):
    """ROUGE-1, ROUGE-2 or ROUGE-L (rouge-score, no stemming) of the output against ``value``
    (default: the case's ``expected``): the F-measure unless ``measure`` says otherwise."""

    type: Literal["rouge_1", "rouge-1", "rouge_2", "rouge-2", "rouge_l", "rouge-l"]
    value: str | None = None
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    measure: Literal["f", "precision", "recall"] = "f"


class MaxLatencyAssertion(_Assertion):
    type: Literal["max_latency_ms", "latency"] = "max_latency_ms"
    threshold: float = Field(gt=0, description="Milliseconds; a slower call fails.")


class MaxCostAssertion(_Assertion):
    """The call's cost (``ResultRecorded.cost``) at most ``threshold``. A call without a known
    cost (unpriced model) or in another currency fails: it cannot be shown to be under."""

    type: Literal["max_cost", "cost"] = "max_cost"
    threshold: Decimal = Field(ge=0, max_digits=24, decimal_places=12)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class JudgeDimension(_Value):
    """One named dimension of a judge's rubric, scored 0-100 with a reason."""

    name: str = Field(min_length=1, max_length=50)
    description: str | None = Field(
        default=None, max_length=1000, description="What the judge looks for in this dimension."
    )
    weight: float = Field(
        default=1.0, gt=0.0, le=1000.0, description="Weight in the judge's overall score."
    )


DEFAULT_JUDGE_DIMENSIONS: Final = (
    JudgeDimension(
        name="准确性",
        description="accuracy: the answer is correct and faithful to the input and the "
        "expected output; no invented facts",
    ),
    JudgeDimension(
        name="完整性",
        description="completeness: every part of the request is addressed, nothing required "
        "is missing",
    ),
    JudgeDimension(
        name="清晰度",
        description="clarity: well organised, unambiguous, in the requested format and language",
    ),
    JudgeDimension(
        name="稳定性",
        description="stability: self-consistent and well grounded, so the same request would "
        "get the same substance again; no contradictions or hedging between alternatives",
    ),
)
"""The original product's rubric: 准确性 accuracy, 完整性 completeness, 清晰度 clarity,
稳定性 stability."""


class JudgeAssertion(_Assertion):
    """LLM-as-judge: a judge model scores the output on each rubric dimension (0-100, with a
    reason), asked for as structured output; it passes when the weighted mean of the
    dimensions reaches ``threshold``. An answer off the scale or malformed is asked again up
    to ``max_attempts`` times, then recorded as a judge error (the assertion fails), never as a
    score. Judge calls go through run-orchestrator's providers: their shared limits, retries
    and pricing."""

    type: Literal["llm_judge", "llm-judge", "judge"] = "llm_judge"
    provider: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    model: str = Field(min_length=1, max_length=200)
    dimensions: list[JudgeDimension] = Field(
        default_factory=lambda: list(DEFAULT_JUDGE_DIMENSIONS), min_length=1, max_length=20
    )
    criteria: str | None = Field(
        default=None,
        max_length=4000,
        description="What a good answer is for this run (may use the case's variables).",
    )
    threshold: float = Field(
        default=60.0, ge=0.0, le=100.0, description="The weighted mean score (0-100) that passes."
    )
    max_attempts: int = Field(
        default=3, ge=1, le=5, description="Asks before an unusable answer is a judge error."
    )
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=1024, ge=64, le=16_000)

    @field_validator("dimensions")
    @classmethod
    def _unique_dimensions(cls, dimensions: list[JudgeDimension]) -> list[JudgeDimension]:
        names = [d.name for d in dimensions]
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"dimension names must be unique: {duplicates} repeat")
        return dimensions


class EmbeddingSimilarityAssertion(_Assertion):
    """Cosine similarity of the output's and the reference's embeddings (a provider's
    OpenAI-compatible embeddings endpoint, or the ``mock`` provider's deterministic vectors)
    at least ``threshold``. The reference is ``value`` (may use the case's variables), else the
    case's ``expected``. Embedding calls go through run-orchestrator like a judge's: shared
    limits, retries, breaker, priced by input tokens; each text is embedded once per run."""

    type: Literal["embedding_similarity", "embedding-similarity", "embedding"] = (
        "embedding_similarity"
    )
    provider: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    model: str = Field(min_length=1, max_length=200)
    value: str | None = Field(
        default=None, max_length=20_000, description="The reference; default: `expected`."
    )
    threshold: float = Field(default=0.8, ge=-1.0, le=1.0, description="Cosine similarity.")


Assertion = Annotated[
    ContainsAssertion
    | IContainsAssertion
    | ContainsAnyAssertion
    | ContainsAllAssertion
    | NotContainsAssertion
    | EqualsAssertion
    | StartsWithAssertion
    | EndsWithAssertion
    | RegexAssertion
    | IsJsonAssertion
    | JsonSchemaAssertion
    | JsonFieldAssertion
    | LevenshteinAssertion
    | SimilarityAssertion
    | BleuAssertion
    | ChrfAssertion
    | RougeAssertion
    | MaxLatencyAssertion
    | MaxCostAssertion
    | JudgeAssertion
    | EmbeddingSimilarityAssertion,
    Field(discriminator="type"),
]
"""A check the evaluator applies to every result of a run. String values may use the case's
variables as ``{{ name }}``. Types are snake_case (``contains_any``); the kebab-case spellings
(``contains-any``) are accepted too. Definitions are validated here, so an invalid regex or
JSON Schema is rejected with the run that carries it."""


def canonical_type(assertion_type: str) -> str:
    """``contains-any`` -> ``contains_any``; the evaluator dispatches on this spelling."""
    canonical = assertion_type.replace("-", "_")
    return _TYPE_SYNONYMS.get(canonical, canonical)


_TYPE_SYNONYMS: Final = {
    "levenshtein_similarity": "similarity",
    "latency": "max_latency_ms",
    "cost": "max_cost",
    "judge": "llm_judge",
    "embedding": "embedding_similarity",
}


def regex_problem(pattern: str) -> str | None:
    """Why RE2 refuses ``pattern``, or None when it compiles."""
    import re2

    options = re2.Options()
    options.log_errors = False
    try:
        re2.compile(pattern, options)
    except re2.error as error:
        reason = error.args[0] if error.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        return f"invalid regex {pattern!r}: {reason} (RE2 syntax)"
    return None


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` is not a valid Draft 2020-12 JSON Schema, or None when it is."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        location = "/".join(str(part) for part in error.absolute_path)
        return f"invalid schema{f' at /{location}' if location else ''}: {error.message}"
    return None
