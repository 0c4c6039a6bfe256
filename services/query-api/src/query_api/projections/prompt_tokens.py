"""``prompt_tokens``: each prompt once per word of its name and author and once for its class,
with its relevance ranking keys (ADR 0032).

A prompt's tokens are a function of its row alone (``prompts.words``, ``class_id``,
``archived``, ``name``, ``updated_at``), so they are kept with its document: after a batch's
handlers, for every prompt the batch touched, in one upsert that rewrites only the rows whose
keys changed, and, for prompts whose words or class may have changed (created or edited), one
delete of the tokens they no longer have. A rebuild's replay makes them all at once from the
rows (``index_all``), as it does the documents.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Text,
    any_,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from query_api.projections._util import any_in
from query_api.projections.batched import execute_batched
from query_api.tables import prompt_tokens, prompts

p = prompts.c
t = prompt_tokens.c
CLASS_PREFIX = "c:"
"""A class token is this and the class id; words are letters and digits only, so never one."""
_KEYS = ("project_id", "archived", "name_is_token", "name_length", "updated_at")


def class_token(class_id: UUID | str) -> str:
    return f"{CLASS_PREFIX}{class_id}"


def _token_array() -> ColumnElement[Any]:
    """The prompt's words and its class token (NULL without a class), as one array."""
    klass = literal(CLASS_PREFIX) + cast(p.class_id, Text)
    return func.array_append(p.words, klass)


def _tokens_of_each_prompt() -> Any:
    """The prompt's distinct tokens (a lateral subquery); no empty word, no NULL class."""
    value = func.unnest(_token_array()).table_valued("value").render_derived(name="v")
    found = select(value.c.value.label("token")).where(value.c.value != "").distinct()
    return found.subquery("tokens").lateral()


def index_statement(where: ColumnElement[bool]) -> Any:
    """Upserts the tokens of the prompts ``where`` selects; unchanged rows are not rewritten."""
    tokens = _tokens_of_each_prompt()
    token = tokens.c.token
    source = select(
        p.prompt_id,
        token,
        p.project_id,
        p.archived,
        func.lower(p.name) == token,
        func.length(p.name),
        p.updated_at,
    ).select_from(prompts.join(tokens, true()))
    statement = pg_insert(prompt_tokens).from_select(
        ["prompt_id", "token", *_KEYS], source.where(where)
    )
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[t.prompt_id, t.token],
        set_={key: new[key] for key in _KEYS},
        where=or_(*(t[key].is_distinct_from(new[key]) for key in _KEYS)),
    )


def forget_statement() -> Any:
    """Deletes the tokens of the prompts ``changed`` their rows no longer have (an edit changed
    the name, author or class)."""
    kept = (
        select(p.prompt_id)
        .where(p.prompt_id == t.prompt_id, t.token == any_(_token_array()))
        .exists()
    )
    return delete(prompt_tokens).where(any_in(t.prompt_id, "changed"), ~kept)


def _index_touched() -> Any:
    return index_statement(any_in(p.prompt_id, "touched"))


async def index_batch(session: AsyncSession, touched: list[UUID], changed: list[UUID]) -> None:
    """After a batch's handlers: the tokens of the ``touched`` prompts, and the stale tokens of
    the ``changed`` ones (created or edited). Both statements are compiled once (ADR 0033)."""
    if touched:
        await execute_batched(session, _index_touched, params={"touched": touched})
    if changed:
        await execute_batched(session, forget_statement, params={"changed": changed})


async def index_all(session: AsyncSession) -> None:
    """Every prompt's tokens made again from the rows (after a replay that did not keep them)."""
    await session.execute(delete(prompt_tokens))
    await session.execute(index_statement(true()))
