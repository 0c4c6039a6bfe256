"""Prompt templates: ``{{ variable }}`` rendered by Jinja2's sandbox.

One renderer for the whole platform, so that what prompt-service validates is exactly what the
run-orchestrator renders. Literal single braces (JSON examples) pass through untouched.

Bounded, so that a few bytes of template cannot make megabytes of answer (``{{ "ab" * 500000
}}``) or exhaust memory: an expression may build a string or list of at most ``MAX_EXPANSION``
items (the sandbox's own limit on ``range``), ``**`` takes small exponents only, the padding
methods (``ljust``, ``center``, ...) small widths only, and the rendered text is counted as it
is produced and refused past ``MAX_RENDERED_CHARS``. Values passed in (case variables) are
not expansion and count only towards the rendered size.

Most prompts only substitute variables (``Describe {{ city }}``). Those are rendered without
Jinja's machinery (a new context per render, ~30 µs; a run renders each case twice): the parsed
template is kept as literal text and variable names, and each name becomes ``str(value)``,
which is what Jinja outputs for a plain name. Anything else (filters, expressions, tags, a name
Jinja resolves to one of its globals) takes the full path. ``tests/test_templating.py`` checks
that both paths agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment

MAX_EXPANSION = MAX_RANGE
"""The longest string or list one template expression may build (100,000, as ``range``)."""
MAX_RENDERED_CHARS = 1_000_000
"""The longest rendered prompt, variables included (about 250,000 tokens)."""
MAX_EXPONENT = 1_000
_PADDING = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif isinstance(right, int) and right > MAX_EXPONENT:
            raise SecurityError(f"exponents above {MAX_EXPONENT} are not allowed")
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        name = getattr(obj, "__name__", "")
        if isinstance(getattr(obj, "__self__", None), str) and name in _PADDING:
            widths = [a for a in (*args, *kwargs.values()) if isinstance(a, int)]
            if any(w > MAX_EXPANSION for w in widths):
                raise SecurityError(f"str.{name} wider than {MAX_EXPANSION} is not allowed")
        return super().call(context, obj, *args, **kwargs)


def _check_repeat(sequence: Any, times: Any) -> None:
    sized = isinstance(sequence, str | list | tuple) and isinstance(times, int)
    if sized and len(sequence) * times > MAX_EXPANSION:
        raise SecurityError(
            f"an expression may build at most {MAX_EXPANSION} characters or items "
            f"(this one: {len(sequence) * times})"
        )


_ENV = _BoundedSandbox(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


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


Substitution = tuple[tuple[bool, str], ...]
"""A template that only substitutes: (is a variable name, literal text or the name) parts."""


@lru_cache(maxsize=1024)
def _substitution(source: str) -> Substitution | None:
    """``source`` as literal text and plain variable names, or None when it is more."""
    try:
        body = _ENV.parse(source).body
    except Exception:  # the full path reports it
        return None
    parts: list[tuple[bool, str]] = []
    for node in body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append((False, child.data))
            elif isinstance(child, nodes.Name) and child.ctx == "load":
                parts.append((True, child.name))
            else:
                return None
    return tuple(parts)


def _substitute(parts: Substitution, variables: Mapping[str, Any]) -> str | None:
    """The rendered text; None when a name is not a variable (missing, or a Jinja global:
    the full path resolves or reports it)."""
    chunks: list[str] = []
    size = 0
    for is_name, text in parts:
        if is_name:
            if text not in variables:
                return None
            text = str(variables[text])
        size += len(text)
        if size > MAX_RENDERED_CHARS:
            raise TemplateError(
                f"the rendered prompt exceeds {MAX_RENDERED_CHARS} characters; "
                "shorten the template or its variables"
            )
        chunks.append(text)
    return "".join(chunks)


def render(source: str, variables: Mapping[str, Any]) -> str:
    """Renders ``source``; a missing variable or a sandbox violation is a ``TemplateError``."""
    if "{" not in source:
        return source  # fast path: nothing to substitute
    parts = _substitution(source)
    if parts is not None:
        rendered = _substitute(parts, variables)
        if rendered is not None:
            return rendered
    try:
        return _bounded_output(_compiled(source), variables)
    except TemplateError:
        raise
    except UndefinedError as error:
        raise TemplateError(f"missing variable: {error.message}") from error
    except SecurityError as error:
        raise TemplateError(f"forbidden in template: {error}") from error
    except TemplateSyntaxError as error:
        raise TemplateError(f"invalid template: {error.message}", error.lineno) from error
    except Exception as error:  # runtime errors inside the template (iterating a number, ...)
        raise TemplateError(f"cannot render: {type(error).__name__}: {error}") from error


def _bounded_output(template: Any, variables: Mapping[str, Any]) -> str:
    """Renders chunk by chunk, refusing past ``MAX_RENDERED_CHARS`` before it is all built."""
    chunks: list[str] = []
    size = 0
    for chunk in template.generate(**variables):
        size += len(chunk)
        if size > MAX_RENDERED_CHARS:
            raise TemplateError(
                f"the rendered prompt exceeds {MAX_RENDERED_CHARS} characters; "
                "shorten the template or its variables"
            )
        chunks.append(chunk)
    return "".join(chunks)
