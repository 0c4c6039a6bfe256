"""API key secrets: how they are made, and the digest that is all the database keeps.

A secret is 256 random bits, so it cannot be guessed and needs no slow password hash (argon2
or bcrypt protect low-entropy passwords, at tens of ms per check: every request would pay it).
The digest is HMAC-SHA256 keyed with ``API_KEY_PEPPER``: a copy of the database alone does not
let anyone test candidate secrets offline, and the digest is also the lookup key (unique index).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from promptworks_contracts.projects import DEFAULT_PROJECT

SECRET_PREFIX = "pwk_"
SHOWN_PREFIX_CHARS = 12
DEFAULT_PEPPER = b"promptworks.api-key.v1"
"""Used when ``API_KEY_PEPPER`` is unset: the digest is then a plain (domain-separated) hash."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def shown_prefix(secret: str) -> str:
    """The part of a secret that lists may show, so a holder can tell keys apart."""
    return secret[:SHOWN_PREFIX_CHARS]


def digest(secret: str, pepper: bytes) -> bytes:
    return hmac.new(pepper, secret.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, what it may do, and the actor its writes record."""

    key_id: UUID | None
    """None for the bootstrap key (it lives in the configuration, not the database)."""
    name: str
    actor: str
    scopes: frozenset[str]
    may_set_actor: bool
    projects: tuple[str, ...] = (DEFAULT_PROJECT,)
    """The projects it was granted, its default first; an admin key reaches every project."""

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def reaches(self, project: str) -> bool:
        return self.is_admin or project in self.projects

    @property
    def default_project(self) -> str:
        """The project of a request without ``X-Project``."""
        return DEFAULT_PROJECT if self.is_admin else self.projects[0]


@dataclass(frozen=True)
class StoredKey:
    principal: Principal
    expires_at: datetime | None
    revoked_at: datetime | None
