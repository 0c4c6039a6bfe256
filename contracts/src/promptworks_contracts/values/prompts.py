"""A prompt version's parts: its template, its declared variables, and where it came from."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    Field,
    model_validator,
)

from promptworks_contracts.values._base import _Value

MAX_PROMPT_CONTENT_CHARS = 100_000
"""The largest prompt template the platform stores (characters)."""


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


class VersionOrigin(_Value):
    """Where a prompt version came from, when not typed by hand: the optimisation advice
    (``advice_id``) given on a run (``run_id``) whose proposed revision it saves."""

    kind: Literal["advice"] = "advice"
    advice_id: UUID
    run_id: UUID
