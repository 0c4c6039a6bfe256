"""One SELECT that yields whole prompt documents: the prompt, its class, tags, current version
and version list (and, for a by-label read, the version the label points to).

Every join is on a key (``prompts`` PK, ``prompt_classes`` PK, ``prompt_versions`` PK and
(prompt_id, number), ``prompt_labels`` PK, ``prompt_tags`` PK), so a document costs a few
index probes. Tags keep the prompt's order; a tag or class whose events are not applied yet is
listed by id with a null name, never dropped.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, ColumnElement, Row, Select, and_, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.selectable import NamedFromClause

from query_api.schemas.prompts import PromptByLabelOut, PromptOut, PromptVersionOut
from query_api.tables import prompt_classes, prompt_labels, prompt_tags, prompt_versions, prompts
from query_api.tables.prompts import LATEST as LATEST  # where the list modules take it from

p = prompts.c
c = prompt_classes.c
_EMPTY: ColumnElement[Any] = literal_column("'[]'::json")

VERSION_FIELDS = (
    "version_id",
    "number",
    "label",
    "template",
    "variables",
    "default_model",
    "default_parameters",
    "commit_message",
    "author",
    "created_at",
    "variables_report",
    "origin",
)


def version_columns(table: NamedFromClause, prefix: str) -> list[ColumnElement[Any]]:
    return [table.c[name].label(f"{prefix}{name}") for name in VERSION_FIELDS]


def _tags_json() -> ColumnElement[Any]:
    ids = func.unnest(p.tag_ids).table_valued("tag_id", with_ordinality="ord").render_derived("u")
    t = prompt_tags.c
    tag = func.json_build_object("id", ids.c.tag_id, "name", t.name, "color", t.color)
    return (
        select(func.coalesce(func.json_agg(aggregate_order_by(tag, ids.c.ord)), _EMPTY, type_=JSON))
        .select_from(ids.outerjoin(prompt_tags, t.tag_id == ids.c.tag_id))
        .scalar_subquery()
    )


def _versions_json() -> ColumnElement[Any]:
    v = prompt_versions.alias("vl").c
    summary = func.json_build_object(
        "id", v.version_id, "number", v.number, "label", v.label, "created_at", v.created_at
    )
    return (
        select(
            func.coalesce(
                func.json_agg(aggregate_order_by(summary, v.number.desc())), _EMPTY, type_=JSON
            )
        )
        .where(v.prompt_id == p.prompt_id)
        .scalar_subquery()
    )


@cache
def documents() -> Select[Any]:
    """Prompt documents; callers add WHERE / ORDER BY / joins (built once: it is immutable)."""
    current = prompt_versions.alias("cv")
    return select(
        prompts,
        c.name.label("class_name"),
        _tags_json().label("tags_json"),
        _versions_json().label("versions_json"),
        *version_columns(current, "cv_"),
    ).select_from(
        prompts.outerjoin(prompt_classes, c.class_id == p.class_id).outerjoin(
            current, current.c.version_id == p.current_version_id
        )
    )


def by_label(prompt_id: UUID, label: str, project: str) -> Select[Any]:
    """The prompt's document plus the version ``label`` points to (``rv_*``, null if none);
    nothing when the prompt is another project's."""
    resolved = prompt_versions.alias("rv")
    if label == LATEST:
        number: ColumnElement[Any] = p.version_count
        query = documents()
    else:
        pointer = prompt_labels.c
        number = pointer.version_number
        query = documents().outerjoin(
            prompt_labels, and_(pointer.prompt_id == p.prompt_id, pointer.label == label)
        )
    return (
        query.outerjoin(
            resolved,
            and_(resolved.c.prompt_id == p.prompt_id, resolved.c.number == number),
        )
        .add_columns(*version_columns(resolved, "rv_"))
        .where(p.prompt_id == prompt_id, p.project_id == project)
    )


def version_fields(row: Row[Any], prefix: str, prompt_id: UUID) -> dict[str, Any] | None:
    fields = {name: getattr(row, f"{prefix}{name}") for name in VERSION_FIELDS}
    if fields["version_id"] is None:
        return None
    fields["id"] = fields.pop("version_id")
    fields["prompt_id"] = prompt_id
    return fields


def version_out(row: Row[Any], prefix: str, prompt_id: UUID) -> PromptVersionOut | None:
    fields = version_fields(row, prefix, prompt_id)
    return None if fields is None else PromptVersionOut.model_validate(fields)


def prompt_out(row: Row[Any]) -> PromptOut:
    return PromptOut.model_validate(prompt_fields(row))


def prompt_by_label_out(row: Row[Any]) -> PromptByLabelOut | None:
    """None when the label points nowhere."""
    resolved = version_fields(row, "rv_", row.prompt_id)
    if resolved is None:
        return None
    return PromptByLabelOut.model_validate({**prompt_fields(row), "resolved_version": resolved})


def prompt_fields(row: Row[Any]) -> dict[str, Any]:
    """A prompt document as plain data, validated in one pass by the caller."""
    labels = dict(row.labels)
    if row.version_count:
        labels[LATEST] = row.version_count
    prompt_class = None
    if row.class_id is not None:
        prompt_class = {"id": row.class_id, "name": row.class_name}
    return {
        "id": row.prompt_id,
        "name": row.name,
        "description": row.description,
        "author": row.author,
        "class": prompt_class,
        "tags": row.tags_json,
        "labels": labels,
        "current_version": version_fields(row, "cv_", row.prompt_id),
        "versions": row.versions_json,
        "version_count": row.version_count,
        "archived": row.archived,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "stream_version": row.stream_version,
    }
