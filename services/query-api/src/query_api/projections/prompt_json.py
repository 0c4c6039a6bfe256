"""A prompt list's documents as JSON built by PostgreSQL (ADR 0025), stored (ADR 0027).

A prompt document (``PromptOut``) joins the prompt, its class, tags, current version and
version list, one ``json_build_object`` per prompt, where Python used to build and validate 50
nested pydantic models per page and serialise them again. The projection renders it whenever
one of those parts changes and keeps it in ``prompt_documents`` (``prompt_documents``); the
list passes the stored text on.

The JSON is ``PromptOut`` field for field, in its order, computed fields included
(``prompt_class``; a version's ``version``, ``content`` and ``updated_at``), with pydantic's
spellings (``iso``). The JSONB the read model keeps of a version (template,
variables, model, parameters, variables report, origin) is rebuilt key by key as its contracts
model reads it, defaults filled in and unknown keys left out (``extra="ignore"``), not embedded
as stored. ``tests/test_prompts.py`` compares the list with ``PromptOut``'s own rendering for a
varied set of prompts. (Whitespace, the order of the keys inside a ``labels`` map and the
spelling of a number may differ from pydantic's; the values are equal.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Text, case, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.sql.selectable import NamedFromClause

from query_api.prepared import constant
from query_api.tables import prompt_classes, prompt_tags, prompt_versions, prompts
from query_api.tables.prompts import LATEST

_EMPTY: ColumnElement[Any] = literal_column("'[]'::json")


def iso(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A timestamptz as pydantic spells it: ``2026-01-02T03:04:05Z`` or with ``.123456``."""
    utc = func.timezone(constant("UTC"), column)
    whole = func.to_char(utc, constant('YYYY-MM-DD"T"HH24:MI:SS'))
    fraction = case(
        (func.date_trunc(constant("second"), utc) == utc, constant("")),
        else_=func.to_char(utc, constant(".US")),
    )
    return case((column.is_(None), None), else_=whole.op("||")(fraction).op("||")(constant("Z")))


def _object(*fields: tuple[str, ColumnElement[Any] | None]) -> ColumnElement[Any]:
    pairs = (part for name, value in fields for part in (constant(name), value))
    return func.json_build_object(*pairs)


def _get(value: ColumnElement[Any], key: str, default: str | None = None) -> ColumnElement[Any]:
    """``value -> key``; ``default`` (JSON text) when the key is absent (a model's default)."""
    found = value.op("->")(constant(key))
    return found if default is None else func.coalesce(found, literal_column(f"'{default}'::jsonb"))


def _nullable(value: ColumnElement[Any], built: ColumnElement[Any]) -> ColumnElement[Any]:
    return case(
        (value.is_(None) | (func.jsonb_typeof(value) == constant("null")), None), else_=built
    )


def _each(array: ColumnElement[Any], build: Any) -> ColumnElement[Any]:
    """A JSON array of ``build(element)`` for each element of the JSONB array, in order."""
    items = func.jsonb_array_elements(array).table_valued("value", with_ordinality="ord")
    elements = items.render_derived("e")
    return (
        select(
            func.coalesce(
                func.json_agg(aggregate_order_by(build(elements.c.value), elements.c.ord)), _EMPTY
            )
        )
        .select_from(elements)
        .scalar_subquery()
    )


def _template(t: ColumnElement[Any]) -> ColumnElement[Any]:
    """``PromptTemplate``: a text template, or a chat template's messages."""

    def message(m: ColumnElement[Any]) -> ColumnElement[Any]:
        return _object(("role", _get(m, "role")), ("content", _get(m, "content")))

    return case(
        (
            t.op("->>")(constant("kind")) == constant("chat"),
            _object(("kind", constant("chat")), ("messages", _each(_get(t, "messages"), message))),
        ),
        else_=_object(("kind", constant("text")), ("text", _get(t, "text"))),
    )


def _content(t: ColumnElement[Any]) -> ColumnElement[Any]:
    """``PromptVersionOut.content``: the text, or each message as ``role: content``."""
    items = func.jsonb_array_elements(_get(t, "messages")).table_valued(
        "value", with_ordinality="ord"
    )
    m = items.render_derived("m")
    line = m.c.value.op("->>")(constant("role")).op("||")(constant(": "))
    line = line.op("||")(m.c.value.op("->>")(constant("content")))
    joined = (
        select(
            func.coalesce(
                func.string_agg(line, aggregate_order_by(constant("\n\n"), m.c.ord)), constant("")
            )
        )
        .select_from(m)
        .scalar_subquery()
    )
    return case(
        (t.op("->>")(constant("kind")) == constant("chat"), joined),
        else_=t.op("->>")(constant("text")),
    )


def _variable(v: ColumnElement[Any]) -> ColumnElement[Any]:
    return _object(
        ("name", _get(v, "name")),
        ("type", _get(v, "type", '"string"')),
        ("required", _get(v, "required", "true")),
        ("default", _get(v, "default")),
        ("choices", _get(v, "choices")),
    )


def version(v: NamedFromClause | Any, prefix: str = "") -> ColumnElement[Any]:
    """``PromptVersionOut`` of the version columns of ``v`` (named ``prefix + name``)."""

    def c(name: str) -> ColumnElement[Any]:
        column: ColumnElement[Any] = v.c[f"{prefix}{name}"]
        return column

    template, model, parameters = c("template"), c("default_model"), c("default_parameters")
    report, origin = c("variables_report"), c("origin")
    return _object(
        ("id", c("version_id")),
        ("number", c("number")),
        ("label", c("label")),
        ("created_at", iso(c("created_at"))),
        ("prompt_id", c("prompt_id")),
        ("template", _template(template)),
        ("variables", _each(c("variables"), _variable)),
        (
            "default_model",
            _nullable(
                model,
                _object(
                    ("provider", _get(model, "provider")),
                    ("name", _get(model, "name")),
                    ("version", _get(model, "version")),
                ),
            ),
        ),
        (
            "default_parameters",
            _nullable(
                parameters,
                _object(
                    ("temperature", _get(parameters, "temperature", "0.7")),
                    ("top_p", _get(parameters, "top_p", "1.0")),
                    ("max_tokens", _get(parameters, "max_tokens")),
                    ("seed", _get(parameters, "seed")),
                    ("stop", _get(parameters, "stop")),
                ),
            ),
        ),
        ("commit_message", c("commit_message")),
        ("author", c("author")),
        (
            "variables_report",
            _object(
                ("undeclared", _get(report, "undeclared")),
                ("unused", _get(report, "unused")),
                ("error", _get(report, "error")),
            ),
        ),
        (
            "origin",
            _nullable(
                origin,
                _object(
                    ("kind", _get(origin, "kind", '"advice"')),
                    ("advice_id", _get(origin, "advice_id")),
                    ("run_id", _get(origin, "run_id")),
                ),
            ),
        ),
        ("version", c("label")),
        ("content", _content(template)),
        ("updated_at", iso(c("created_at"))),
    )


def _tags() -> ColumnElement[Any]:
    p = prompts.c
    ids = func.unnest(p.tag_ids).table_valued("tag_id", with_ordinality="ord").render_derived("u")
    t = prompt_tags.c
    tag = _object(("id", ids.c.tag_id), ("name", t.name), ("color", t.color))
    return (
        select(func.coalesce(func.json_agg(aggregate_order_by(tag, ids.c.ord)), _EMPTY))
        .select_from(ids.outerjoin(prompt_tags, t.tag_id == ids.c.tag_id))
        .scalar_subquery()
    )


def _versions() -> ColumnElement[Any]:
    p = prompts.c
    v = prompt_versions.alias("vl").c
    summary = _object(
        ("id", v.version_id),
        ("number", v.number),
        ("label", v.label),
        ("created_at", iso(v.created_at)),
        ("version", v.label),
    )
    return (
        select(func.coalesce(func.json_agg(aggregate_order_by(summary, v.number.desc())), _EMPTY))
        .where(v.prompt_id == p.prompt_id)
        .scalar_subquery()
    )


def document(current: NamedFromClause) -> ColumnElement[str]:
    """``PromptOut`` (text) of a row of ``prompts`` joined to ``prompt_classes`` and to its
    current version ``current`` (an alias of ``prompt_versions``, as ``prompt_docs``)."""
    p, k = prompts.c, prompt_classes.c
    labels = case(
        (
            p.version_count > 0,
            p.labels.op("||")(func.jsonb_build_object(constant(LATEST), p.version_count)),
        ),
        else_=p.labels,
    )
    prompt_class = case(
        (p.class_id.is_(None), None), else_=_object(("id", p.class_id), ("name", k.name))
    )
    current_version = case((current.c.version_id.is_(None), None), else_=version(current))
    built = _object(
        ("id", p.prompt_id),
        ("name", p.name),
        ("description", p.description),
        ("author", p.author),
        ("class", prompt_class),
        ("tags", _tags()),
        ("labels", cast(labels, JSONB)),
        ("current_version", current_version),
        ("versions", _versions()),
        ("version_count", p.version_count),
        ("archived", p.archived),
        ("created_at", iso(p.created_at)),
        ("updated_at", iso(p.updated_at)),
        ("stream_version", p.stream_version),
        ("prompt_class", prompt_class),
    )
    return cast(built, Text)
