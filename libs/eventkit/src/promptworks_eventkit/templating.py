"""Prompt templates: ``{{ variable }}`` rendered by Jinja2's sandbox.

One renderer for the whole platform, so that what prompt-service validates is exactly what the
run-orchestrator renders. Literal single braces (JSON examples) pass through untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False
)


class TemplateError(ValueError):
    """A template that cannot be parsed or rendered; the message says where."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"{message} (line {line})" if line else message)
        self.line = line


@dataclass(frozen=True)
class TemplateCheck:
    used_variables: frozenset[str]


def check(source: str) -> TemplateCheck:
    """Parses ``source``; raises ``TemplateError`` naming the line of a syntax error."""
    try:
        ast = _ENV.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateError(f"invalid template: {error.message}", error.lineno) from error
    except Exception as error:  # runtime errors inside the template (iterating a number, ...)
        raise TemplateError(f"cannot render: {type(error).__name__}: {error}") from error
    return TemplateCheck(frozenset(meta.find_undeclared_variables(ast)))


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Any:
    return _ENV.from_string(source)


def render(source: str, variables: Mapping[str, Any]) -> str:
    """Renders ``source``; a missing variable or a sandbox violation is a ``TemplateError``."""
    if "{" not in source:
        return source  # fast path: nothing to substitute
    try:
        return str(_compiled(source).render(**variables))
    except UndefinedError as error:
        raise TemplateError(f"missing variable: {error.message}") from error
    except SecurityError as error:
        raise TemplateError(f"forbidden in template: {error}") from error
    except TemplateSyntaxError as error:
        raise TemplateError(f"invalid template: {error.message}", error.lineno) from error
    except Exception as error:  # runtime errors inside the template (iterating a number, ...)
        raise TemplateError(f"cannot render: {type(error).__name__}: {error}") from error
