"""The one renderer's bounds: a few bytes of template cannot make megabytes of prompt or
exhaust memory; ordinary templates render as before."""

from __future__ import annotations

import pytest

from promptworks_eventkit.templating import (
    MAX_EXPANSION,
    MAX_RENDERED_CHARS,
    TemplateError,
    _bounded_output,
    _compiled,
    render,
)


def test_ordinary_templates_render_as_before() -> None:
    source = '{{ "ab" * 3 }} {{ 2 ** 10 }} {{ "a".ljust(4) }}| {{ name * 2 }} {"json": 1}'
    assert render(source, {"name": "Zoë"}) == 'ababab 1024 a   | ZoëZoë {"json": 1}'


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ('{{ "ab" * 500000 }}', f"at most {MAX_EXPANSION}"),
        ('{{ 500000 * "ab" }}', f"at most {MAX_EXPANSION}"),
        ("{{ [0] * 200000 }}", f"at most {MAX_EXPANSION}"),
        ("{{ 2 ** 100000 }}", "exponents above"),
        ('{{ "a".ljust(10 ** 9) }}', "wider than"),
        ('{{ "a".center(10 ** 6) }}', "wider than"),
        ('{% for i in range(100000) %}{{ "x" * 99999 }}{% endfor %}', "exceeds"),
    ],
)
def test_expansion_is_refused_with_a_clear_message(source: str, says: str) -> None:
    with pytest.raises(TemplateError) as refused:
        render(source, {})
    assert says in str(refused.value)


def test_variables_count_towards_the_rendered_size_only() -> None:
    big = "y" * (MAX_EXPANSION * 2)  # a value passed in is not expansion
    assert render("{{ big }}", {"big": big}) == big
    repeated = "{% for i in range(20) %}{{ big }}{% endfor %}"
    with pytest.raises(TemplateError) as refused:
        render(repeated, {"big": "y" * (MAX_RENDERED_CHARS // 10)})
    assert f"exceeds {MAX_RENDERED_CHARS} characters" in str(refused.value)


SUBSTITUTIONS = [
    "Describe {{ city }} in one line",
    "{{city}}{{ n }}|{{ flag }}|{{ nothing }}|{{ items }}|{{ mapping }}",
    'a {{- city -}} b {% raw %}{{ city }}{% endraw %} {"json": 1}\n\n',
    "{{ range }} {{ city }}",  # a Jinja global unless the case names it
    "no variables at all { }",
]


@pytest.mark.parametrize("source", SUBSTITUTIONS)
def test_plain_substitutions_render_as_jinja_does(source: str) -> None:
    variables = {
        "city": "Zoë",
        "n": 1.5,
        "flag": True,
        "nothing": None,
        "items": [1, "a"],
        "mapping": {"k": 2},
    }
    for case in (variables, {**variables, "range": "mine"}):
        assert render(source, case) == _bounded_output(_compiled(source), case)


def test_a_missing_variable_is_reported_the_same_way() -> None:
    with pytest.raises(TemplateError, match="missing variable: 'city' is undefined"):
        render("Describe {{ city }}", {})
