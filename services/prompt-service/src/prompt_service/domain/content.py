"""Checks on a version's content: refused when it cannot work, reported when it looks wrong.

Refused (422): a template that does not parse (the field and the line are named), two variables
declared with one name. Reported (warnings, the version is stored): a variable the template uses
but does not declare, or declares but does not use. A prompt may rely on run-time variables it
does not declare, and a declared-but-unused variable is harmless, so neither blocks a version.
"""

from __future__ import annotations

from dataclasses import dataclass

from prompt_service.domain.commands import VersionContent
from promptworks_contracts.values import TextTemplate
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.templating import TemplateError, check


@dataclass(frozen=True)
class ContentWarning:
    field: str
    type: str
    msg: str


def template_sources(content: VersionContent) -> list[tuple[str, str]]:
    """(field as clients name it, template source): ``content`` or ``messages.N.content``."""
    if isinstance(content.template, TextTemplate):
        return [("content", content.template.text)]
    return [(f"messages.{i}.content", m.content) for i, m in enumerate(content.template.messages)]


def check_content(content: VersionContent) -> list[ContentWarning]:
    """Raises ``DomainError`` for content that cannot be stored; returns what to report."""
    used: set[str] = set()
    for where, source in template_sources(content):
        try:
            used |= check(source).used_variables
        except TemplateError as error:
            raise DomainError(str(error), field=where, rule="template_syntax") from error
    names = [v.name for v in content.variables]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DomainError(
            f"variable names must be unique; declared more than once: {', '.join(duplicates)}",
            field="variables",
            rule="unique",
        )
    declared = set(names)
    return [
        ContentWarning(
            "variables",
            "undeclared_variable",
            f"variable {name!r} is used in the template but not declared",
        )
        for name in sorted(used - declared)
    ] + [
        ContentWarning(
            "variables",
            "unused_variable",
            f"variable {name!r} is declared but the template does not use it",
        )
        for name in sorted(declared - used)
    ]
