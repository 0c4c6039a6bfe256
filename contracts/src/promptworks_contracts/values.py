"""Value objects that events carry."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_PROMPT_CONTENT_CHARS = 100_000
"""The largest prompt template the platform stores (characters)."""


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", serialize_by_alias=True)


class ChatMessage(_Value):
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_PROMPT_CONTENT_CHARS)


class TextTemplate(_Value):
    kind: Literal["text"] = "text"
    text: str = Field(min_length=1, max_length=MAX_PROMPT_CONTENT_CHARS)


class ChatTemplate(_Value):
    kind: Literal["chat"] = "chat"
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)


PromptTemplate = Annotated[TextTemplate | ChatTemplate, Field(discriminator="kind")]
"""A prompt's content: plain text, or a list of role messages. Variables use ``{{ name }}``."""


VariableType = Literal["string", "number", "integer", "boolean", "enum", "json", "list"]
EnumChoice = str | int | float | bool


class VariableSpec(_Value):
    """A variable a prompt version declares. Runs enforce ``type`` on every case before a
    model is called; ``choices`` lists an ``enum``'s allowed values."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    type: VariableType = "string"
    required: bool = True
    default: Any = None
    choices: list[EnumChoice] | None = Field(default=None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _consistent(self) -> VariableSpec:
        if self.type == "enum" and not self.choices:
            raise ValueError(f"variable {self.name!r} of type enum needs `choices`")
        if self.type != "enum" and self.choices is not None:
            raise ValueError(f"`choices` is only for variables of type enum ({self.name!r})")
        if self.default is not None and (problem := self.type_error(self.default)):
            raise ValueError(f"the default of variable {self.name!r} {problem}")
        return self

    def type_error(self, value: Any) -> str | None:
        """Why ``value`` is not of this variable's type, or None when it is. JSON's types:
        a boolean is never a number, and an integer may be written ``5.0``."""
        kind = self.type
        if kind == "json":
            return None
        if kind == "string":
            ok = isinstance(value, str)
        elif kind == "boolean":
            ok = isinstance(value, bool)
        elif kind == "number":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif kind == "integer":
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, float) and value.is_integer()
            )
        elif kind == "list":
            ok = isinstance(value, list)
        else:  # enum: compared with its JSON type, so True is not 1
            choices = self.choices or []
            ok = any(type(value) is type(choice) and value == choice for choice in choices)
            if not ok:
                return f"must be one of {choices}, not {value!r}"
        return None if ok else f"must be of type {kind}, not {_json_type(value)}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


class ModelParameters(_Value):
    """Sampling parameters; ranges follow the OpenAI chat-completions API."""

    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    seed: int | None = None
    stop: list[str] | None = Field(default=None, max_length=4)


class ModelRef(_Value):
    """Which model a run calls. ``provider`` names a configured provider (``mock``,
    ``openai``, or any OpenAI-compatible provider set up in the run-orchestrator); never a key."""

    provider: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    name: str = Field(min_length=1, max_length=200)
    version: str | None = Field(default=None, max_length=100)


class ModelPricing(_Value):
    """What a model costs, per million tokens. Snapshotted into RunCreated, so a run's cost
    never changes when the catalog's prices do. Decimal keeps money exact; JSON carries it
    as a string (``"2.50"``)."""

    input_per_million: Decimal = Field(ge=0, max_digits=18, decimal_places=9)
    output_per_million: Decimal = Field(ge=0, max_digits=18, decimal_places=9)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class ModelLimits(_Value):
    """A provider's published quotas for one API key; they hold for all orchestrator replicas
    together."""

    requests_per_minute: int | None = Field(default=None, ge=1, le=10_000_000)
    tokens_per_minute: int | None = Field(default=None, ge=1, le=1_000_000_000)
    max_concurrency: int | None = Field(
        default=None, ge=1, le=10_000, description="Calls in flight at once, per replica."
    )


class ModelSpec(_Value):
    """What is known about a model beyond its name: size, price and limits."""

    context_length: int | None = Field(default=None, ge=1, le=100_000_000)
    pricing: ModelPricing | None = None
    limits: ModelLimits = ModelLimits()


class Money(_Value):
    """An exact amount of money; JSON carries ``amount`` as a string (``"0.001250"``)."""

    amount: Decimal = Field(ge=0, max_digits=24, decimal_places=12)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")

    @field_validator("amount")
    @classmethod
    def _canonical(cls, amount: Decimal) -> Decimal:
        """One spelling per amount: ``0.00125``, never ``0.001250000000``, ``0E-12`` or
        ``1E+2``, so equal amounts compare and print equal everywhere."""
        return Decimal(format(amount.normalize(), "f"))


class TokenUsage(_Value):
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    total_tokens: int = Field(default=0, ge=0)


class _Assertion(_Value):
    name: str | None = Field(
        default=None,
        max_length=100,
        description="Metric name for this check; defaults to <type>_<index in the run>.",
    )


class ContainsAssertion(_Assertion):
    type: Literal["contains"] = "contains"
    value: str = Field(min_length=1)
    case_sensitive: bool = True


class NotContainsAssertion(_Assertion):
    type: Literal["not_contains"] = "not_contains"
    value: str = Field(min_length=1)
    case_sensitive: bool = True


class EqualsAssertion(_Assertion):
    type: Literal["equals"] = "equals"
    value: str
    strip: bool = True


class RegexAssertion(_Assertion):
    type: Literal["regex"] = "regex"
    pattern: str = Field(min_length=1, max_length=1000)


class IsJsonAssertion(_Assertion):
    type: Literal["is_json"] = "is_json"


class JsonSchemaAssertion(_Assertion):
    type: Literal["json_schema"] = "json_schema"
    json_schema: dict[str, Any] = Field(alias="schema", serialization_alias="schema")

    model_config = ConfigDict(
        frozen=True, extra="ignore", populate_by_name=True, serialize_by_alias=True
    )


class MaxLatencyAssertion(_Assertion):
    type: Literal["max_latency_ms"] = "max_latency_ms"
    threshold: float = Field(gt=0)


Assertion = Annotated[
    ContainsAssertion
    | NotContainsAssertion
    | EqualsAssertion
    | RegexAssertion
    | IsJsonAssertion
    | JsonSchemaAssertion
    | MaxLatencyAssertion,
    Field(discriminator="type"),
]
"""A check the evaluator applies to every result of a run. String values may use the case's
variables as ``{{ name }}``."""


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
