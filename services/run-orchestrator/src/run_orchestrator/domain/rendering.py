"""Turns a template and one case's variables into the messages sent to a model.

The single renderer (``promptworks_eventkit.templating``) is used both when a run is created
(to refuse a case that cannot render) and when it is executed, so both always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptworks_contracts.values import PromptTemplate, TextTemplate
from promptworks_eventkit.templating import render


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str


def render_messages(template: PromptTemplate, variables: Mapping[str, Any]) -> list[Message]:
    """A text template becomes one user message; a chat template keeps its roles.

    Raises ``TemplateError`` when a variable is missing or the sandbox refuses the template.
    """
    if isinstance(template, TextTemplate):
        return [Message("user", render(template.text, variables))]
    return [Message(m.role, render(m.content, variables)) for m in template.messages]


def prompt_text(messages: list[Message]) -> str:
    """The rendered prompt as one string (what the mock ``echo`` model answers)."""
    return "\n".join(m.content for m in messages)
