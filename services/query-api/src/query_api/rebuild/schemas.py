"""The read-model schemas: a copy of the live one's structure, and the switch between them.

The structure is read from the catalog, not from the code's table definitions, so the copy is
exactly what the migrations made (a table or index a migration adds is copied without a
change here). Indexes that do not enforce a key are returned separately: a replay inserts
faster without them and they are built once, after the bulk of the events.

Privileges are copied too (the schema's and each table's and sequence's, with their grant
options): an operator's read-only reporting role that may SELECT from the live read models
may still do so after the switch. The owner is whoever runs the rebuild, as for the live ones
(query-api's role).
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from query_api.read_schema import CHANGES_CHANNEL, EVERY_PROJECT, LIVE, NEXT, PREVIOUS

_LIKE = (
    "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING IDENTITY "
    "INCLUDING STORAGE INCLUDING COMMENTS INCLUDING COMPRESSION"
)


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def schema_exists(connection: AsyncConnection, schema: str) -> bool:
    found = await connection.scalar(text("SELECT to_regnamespace(:s) IS NOT NULL"), {"s": schema})
    return bool(found)


async def tables_of(connection: AsyncConnection, schema: str) -> list[str]:
    rows = await connection.execute(
        text(
            "SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace(:s) "
            "AND relkind IN ('r', 'p') ORDER BY 1"
        ),
        {"s": schema},
    )
    return [row[0] for row in rows]


async def copy_structure(
    connection: AsyncConnection, source: str, target: str, *, unlogged: bool = False
) -> list[str]:
    """Creates schema ``target`` with every table of ``source`` (columns, defaults, checks,
    primary keys, unique constraints and indexes), empty. Returns the statements that create
    the rest (plain indexes, foreign keys), to run after the bulk load. In a transaction.

    ``unlogged``: the tables are created UNLOGGED (no WAL while they are loaded; emptied by a
    crash), to be made logged (``set_logged``) before anyone reads them."""
    # Definitions printed with every name schema-qualified: nothing is visible from pg_catalog.
    await connection.execute(text("SET LOCAL search_path = pg_catalog"))
    await connection.execute(text(f"CREATE SCHEMA {quoted(target)}"))
    tables = await tables_of(connection, source)
    for table in tables:
        await connection.execute(
            text(
                f"CREATE {'UNLOGGED ' if unlogged else ''}TABLE {quoted(target)}.{quoted(table)} "
                f"(LIKE {quoted(source)}.{quoted(table)} {_LIKE})"
            )
        )
    # Storage parameters (results' fillfactor) are not copied by LIKE.
    options = await connection.execute(
        text(
            "SELECT relname, array_to_string(reloptions, ', ') FROM pg_class "
            "WHERE relnamespace = to_regnamespace(:s) AND relkind IN ('r', 'p') "
            "AND reloptions IS NOT NULL ORDER BY 1"
        ),
        {"s": source},
    )
    for table, settings in options.all():
        await connection.execute(
            text(f"ALTER TABLE {quoted(target)}.{quoted(table)} SET ({settings})")
        )
    later: list[str] = []
    constraints = await connection.execute(
        text(
            "SELECT t.relname, c.conname, c.contype, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
            "WHERE t.relnamespace = to_regnamespace(:s) AND c.contype IN ('p', 'u', 'x', 'f') "
            "ORDER BY c.contype DESC, 1, 2"
        ),
        {"s": source},
    )
    for table, name, kind, definition in constraints:
        statement = (
            f"ALTER TABLE {quoted(target)}.{quoted(table)} "
            f"ADD CONSTRAINT {quoted(name)} {_retarget(definition, source, target)}"
        )
        if kind == "f":
            later.append(statement)
        else:
            await connection.execute(text(statement))
    indexes = await connection.execute(
        text(
            "SELECT i.indisunique, pg_get_indexdef(i.indexrelid) "
            "FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN pg_class x ON x.oid = i.indexrelid "
            "WHERE t.relnamespace = to_regnamespace(:s) AND NOT EXISTS ("
            "  SELECT 1 FROM pg_constraint c "
            "  WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) "
            "ORDER BY x.relname"
        ),
        {"s": source},
    )
    for unique, definition in indexes:
        statement = _retarget(definition, source, target)
        if unique:  # an ON CONFLICT target, maybe: needed while the events are applied
            await connection.execute(text(statement))
        else:
            later.append(statement)
    await copy_privileges(connection, source, target)
    return later


async def set_logged(connection: AsyncConnection, schema: str) -> None:
    """Makes every unlogged table of ``schema`` logged (each is written to the WAL once, in
    one pass, with the indexes it has), their owned sequences with them."""
    rows = await connection.execute(
        text(
            "SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace(:s) "
            "AND relkind = 'r' AND relpersistence = 'u' ORDER BY 1"
        ),
        {"s": schema},
    )
    for (table,) in rows.all():
        await connection.execute(text(f"ALTER TABLE {quoted(schema)}.{quoted(table)} SET LOGGED"))


# Each privilege granted on the schema and on its tables and sequences to anyone but the
# object's owner (who has them all anyway), with grantee 0 meaning PUBLIC.
_GRANTS = text(
    "SELECT 'SCHEMA', NULL, a.privilege_type, a.grantee, a.is_grantable "
    "FROM pg_namespace n, aclexplode(n.nspacl) a "
    "WHERE n.nspname = :s AND a.grantee <> n.nspowner "
    "UNION ALL "
    "SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.relname, "
    "a.privilege_type, a.grantee, a.is_grantable "
    "FROM pg_class c, aclexplode(c.relacl) a "
    "WHERE c.relnamespace = to_regnamespace(:s) AND c.relkind IN ('r', 'p', 'S') "
    "AND a.grantee <> c.relowner "
    "ORDER BY 1, 2, 3, 4"
)


async def copy_privileges(connection: AsyncConnection, source: str, target: str) -> None:
    """Grants on ``target`` (and its objects of the same names) what is granted on ``source``."""
    for kind, name, privilege, grantee, grantable in await connection.execute(
        _GRANTS, {"s": source}
    ):
        to = "PUBLIC" if grantee == 0 else await _role_name(connection, grantee)
        on = quoted(target) if name is None else f"{quoted(target)}.{quoted(name)}"
        option = " WITH GRANT OPTION" if grantable else ""
        await connection.execute(text(f"GRANT {privilege} ON {kind} {on} TO {to}{option}"))


async def _role_name(connection: AsyncConnection, oid: int) -> str:
    name = await connection.scalar(text("SELECT quote_ident(pg_get_userbyid(:o))"), {"o": oid})
    return str(name)


def _retarget(definition: str, source: str, target: str) -> str:
    """The definition with the tables of ``source`` named in ``target``."""
    pattern = re.compile(rf"(?<![\w.\"]){re.escape(source)}\.")
    return pattern.sub(f"{target}.", definition)


async def drop(connection: AsyncConnection, schema: str) -> None:
    await connection.execute(text(f"DROP SCHEMA IF EXISTS {quoted(schema)} CASCADE"))


def _renames(*steps: tuple[str, str]) -> str:
    """One statement (atomic) renaming schemas in order; at its commit every project's live
    models have changed, so the workers' page caches are told so (``CHANGES_CHANNEL``)."""
    body = " ".join(
        f"EXECUTE 'ALTER SCHEMA {quoted(old)} RENAME TO {quoted(new)}';" for old, new in steps
    )
    told = f"PERFORM pg_notify('{CHANGES_CHANNEL}', '{EVERY_PROJECT}');"
    return f"DO $$ BEGIN {body} {told} END $$"


PROMOTE = _renames((LIVE, PREVIOUS), (NEXT, LIVE))
"""The rebuilt models become the live ones; the replaced ones are kept as the previous."""
ROLL_BACK = _renames((LIVE, NEXT), (PREVIOUS, LIVE), (NEXT, PREVIOUS))
"""The previous models become the live ones again (and the replaced ones the previous)."""
