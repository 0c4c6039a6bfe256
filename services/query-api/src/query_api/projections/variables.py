"""The variables report of a version: what its template uses without declaring, and back.

Computed once, when the version is projected, with the platform's own template checker
(``promptworks_eventkit.templating.check``). Parsing costs ~140 us per template, too much for
bulk loads, so templates made only of plain ``{{ name }}`` substitutions (nearly all of them)
take a fast path that yields exactly what the parser would; anything else is parsed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from promptworks_contracts.values import ChatTemplate, TextTemplate, VariableSpec
from promptworks_eventkit.templating import TemplateError, check

_SIMPLE = re.compile(r"\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}")
# Jinja reads these as constants, not variables.
_CONSTANTS = frozenset({"true", "false", "none", "True", "False", "None"})


@lru_cache(maxsize=4096)
def used_variables(source: str) -> frozenset[str]:
    """The variables ``source`` reads; raises ``TemplateError`` for an invalid template."""
    if "{" not in source:
        return frozenset()
    if "{%" not in source and "{#" not in source and "{{{" not in source:
        names = _SIMPLE.findall(source)
        if len(names) == source.count("{{") and not _CONSTANTS.intersection(names):
            return frozenset(names)
    return check(source).used_variables


def template_sources(template: TextTemplate | ChatTemplate) -> list[str]:
    if isinstance(template, TextTemplate):
        return [template.text]
    return [message.content for message in template.messages]


def variables_report(
    template: TextTemplate | ChatTemplate, variables: list[VariableSpec]
) -> dict[str, Any]:
    """``{undeclared, unused}`` (sorted names), plus ``error`` if the template does not parse
    (prompt-service refuses those, so it only shows events from elsewhere)."""
    used: set[str] = set()
    try:
        for source in template_sources(template):
            used |= used_variables(source)
    except TemplateError as error:
        return {"undeclared": [], "unused": [], "error": str(error)}
    declared = {variable.name for variable in variables}
    return {"undeclared": sorted(used - declared), "unused": sorted(declared - used)}
