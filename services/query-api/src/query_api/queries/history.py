"""A prompt's history: every event of its stream, oldest first, each with a short sentence.

Sentences are written here, at read time, from the rows' ``details``: classes and tags are
named as they are called now (or by id once deleted).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from query_api.projections._util import any_of
from query_api.queries.prompt_reads import require_prompt
from query_api.schemas.prompts import HistoryEntry
from query_api.tables import prompt_classes, prompt_history, prompt_tags

h = prompt_history.c


async def prompt_history_page(
    session: AsyncSession, prompt_id: UUID, limit: int, offset: int
) -> tuple[int, list[HistoryEntry]]:
    await require_prompt(session, prompt_id)
    total = int(await session.scalar(select(func.count()).where(h.prompt_id == prompt_id)) or 0)
    rows = (
        await session.execute(
            select(prompt_history)
            .where(h.prompt_id == prompt_id)
            .order_by(h.stream_version)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    names = await _names(session, [row.details for row in rows])
    return total, [
        HistoryEntry(
            stream_version=row.stream_version,
            type=row.type,
            actor=row.actor,
            at=row.at,
            message=row.message,
            summary=summarize(row.type, row.details, names),
        )
        for row in rows
    ]


async def _names(session: AsyncSession, details: list[dict[str, Any]]) -> dict[str, str]:
    """Current names of the classes and tags the rows mention, by id (as text)."""
    class_ids = {d[k] for d in details for k in ("class_id", "previous_class_id") if d.get(k)}
    tag_ids = {t for d in details for k in ("tags_added", "tags_removed") for t in d.get(k, [])}
    names: dict[str, str] = {}
    if class_ids:
        c = prompt_classes.c
        rows = await session.execute(
            select(c.class_id, c.name).where(any_of(c.class_id, [UUID(i) for i in class_ids]))
        )
        names.update({str(i): n for i, n in rows})
    if tag_ids:
        t = prompt_tags.c
        rows = await session.execute(
            select(t.tag_id, t.name).where(any_of(t.tag_id, [UUID(i) for i in tag_ids]))
        )
        names.update({str(i): n for i, n in rows})
    return names


def summarize(kind: str, d: dict[str, Any], names: dict[str, str]) -> str:
    def name(id_: str) -> str:
        return names.get(id_, id_)

    if kind == "created":
        in_class = f" in class {name(d['class_id'])}" if d.get("class_id") else ""
        return f"created {d['name']}{in_class}"
    if kind == "version_created":
        label = f" ({d['label']})" if d.get("label") else ""
        return f"created version {d['number']}{label}"
    if kind == "label_moved":
        if d.get("previous_version_number") is None:
            return f"set {d['label']} to {d['version_number']}"
        return f"moved {d['label']} from {d['previous_version_number']} to {d['version_number']}"
    if kind == "label_removed":
        return f"removed {d['label']} (was {d['previous_version_number']})"
    if kind == "current_version_set":
        before, after = d["previous_version_number"], d["version_number"]
        verb = "rolled back" if after < before else "moved the current version"
        return f"{verb} from {before} to {after}"
    if kind == "metadata_edited":
        return _edited(d, name)
    return kind.replace("_", " ")  # archived, restored


def _edited(d: dict[str, Any], name: Any) -> str:
    changed = set(d.get("changed", []))
    parts = []
    if "name" in changed:
        parts.append(f"renamed to {d['name']}")
    if "description" in changed:
        parts.append("changed the description")
    if "author" in changed:
        parts.append(f"changed the author to {d['author'] or '(none)'}")
    if d.get("class_id") != d.get("previous_class_id"):
        if d.get("class_id"):
            parts.append(f"moved to class {name(d['class_id'])}")
        else:
            parts.append(f"removed from class {name(d['previous_class_id'])}")
    if d.get("tags_added"):
        parts.append("tagged " + ", ".join(name(t) for t in d["tags_added"]))
    if d.get("tags_removed"):
        parts.append("untagged " + ", ".join(name(t) for t in d["tags_removed"]))
    return "; ".join(parts) or "edited"
