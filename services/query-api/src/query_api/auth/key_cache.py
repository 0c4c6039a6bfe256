"""Keys found in the database, kept in this process for a few seconds (``API_KEY_CACHE_SECONDS``).

Without it every request paid a database session for its key (a pool checkout with its ping,
a transaction, the lookup: about a third of a small read's CPU). Entries are keyed by the
secret's digest, so the cache never holds a secret, and only keys that were found are kept: a
key created on another replica works at once, and unknown secrets cannot fill the memory.

Revocation: the process that revokes a key forgets it at once; every other process (worker or
replica) stops accepting it at the latest ``ttl`` seconds after the revocation committed, when
its entry expires and the next request reads the row again. Expiry (``expires_at``) is checked
on every request against the cached time, so an expiring key stops at its instant everywhere.
Nothing is written per request (no ``last_used``), so the hot path stays read-only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

from query_api.auth.keys import StoredKey


class KeyCache:
    def __init__(
        self,
        ttl: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[bytes, tuple[float, StoredKey]] = {}

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def get(self, digest: bytes) -> StoredKey | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            self._entries.pop(digest, None)
            return None
        return entry[1]

    def put(self, digest: bytes, key: StoredKey) -> None:
        if not self.enabled:
            return
        if len(self._entries) >= self._max_entries:
            self._entries.clear()  # bounded memory; the next requests read their keys again
        self._entries[digest] = (self._clock() + self._ttl, key)

    def forget(self, key_id: UUID) -> None:
        """Drops the key ``key_id`` (revoked by this process)."""
        for digest, (_, key) in list(self._entries.items()):
            if key.principal.key_id == key_id:
                del self._entries[digest]
