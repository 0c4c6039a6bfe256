"""API keys in query-api's database: create (the secret is returned once, only its digest is
stored), list, read, revoke, and find the key a secret belongs to."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_contracts.api.api_keys import CreateApiKeyRequest
from query_api.auth.key_cache import KeyCache
from query_api.auth.keys import Principal, StoredKey, digest, new_secret, shown_prefix
from query_api.tables.api_keys import api_keys


class KeyStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pepper: bytes,
        cache: KeyCache | None = None,
    ) -> None:
        self._sessions = sessions
        self._pepper = pepper
        self._cache = cache or KeyCache(0)

    def digest(self, secret: str) -> bytes:
        return digest(secret, self._pepper)

    async def create(
        self, body: CreateApiKeyRequest, created_by: str
    ) -> tuple[str, dict[str, Any]]:
        """The new key's secret (shown once) and its row."""
        secret = new_secret()
        row = {
            "id": uuid.uuid4(),
            "name": body.name,
            "owner": body.owner or body.name,
            "prefix": shown_prefix(secret),
            "secret_digest": self.digest(secret),
            "scopes": sorted(set(body.scopes)),
            "projects": list(dict.fromkeys(body.projects)),
            "may_set_actor": body.may_set_actor,
            "created_at": datetime.now(UTC),
            "created_by": created_by,
            "expires_at": body.expires_at,
            "revoked_at": None,
            "revoked_by": None,
        }
        async with self._sessions.begin() as session:
            await session.execute(api_keys.insert().values(**row))
        return secret, row

    async def list(self, limit: int, offset: int) -> tuple[int, Sequence[dict[str, Any]]]:
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(api_keys)) or 0
            rows = await session.execute(
                select(api_keys)
                .order_by(api_keys.c.created_at.desc(), api_keys.c.id)
                .limit(limit)
                .offset(offset)
            )
            return total, [dict(r._mapping) for r in rows]

    async def get(self, key_id: UUID) -> dict[str, Any] | None:
        async with self._sessions() as session:
            row = (await session.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
            return dict(row._mapping) if row is not None else None

    async def revoke(self, key_id: UUID, revoked_by: str) -> dict[str, Any] | None:
        """Revokes the key (once: a second revoke keeps the first time); its row, or None."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC), revoked_by=revoked_by)
            )
        self._cache.forget(key_id)
        return await self.get(key_id)

    async def find(self, secret: str) -> StoredKey | None:
        """The key ``secret`` belongs to (from the cache while its entry lasts, ``key_cache``)."""
        hashed = self.digest(secret)
        cached = self._cache.get(hashed)
        if cached is not None:
            return cached
        async with self._sessions() as session:
            row = (
                await session.execute(select(api_keys).where(api_keys.c.secret_digest == hashed))
            ).first()
        if row is None:
            return None
        key = row._mapping
        found = StoredKey(
            principal=Principal(
                key_id=key["id"],
                name=key["name"],
                actor=key["owner"],
                scopes=frozenset(key["scopes"]),
                may_set_actor=key["may_set_actor"],
                projects=tuple(key["projects"]),
            ),
            expires_at=key["expires_at"],
            revoked_at=key["revoked_at"],
        )
        self._cache.put(hashed, found)
        return found
