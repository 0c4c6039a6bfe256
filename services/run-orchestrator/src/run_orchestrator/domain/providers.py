"""The provider catalog's rules, free of IO: what a provider definition may say.

Invariants:
- A provider's name is unique across the catalog, the ``PROVIDERS`` configuration and the
  built-in ``mock``.
- A credential is given at most one way: by reference (an environment variable whose name the
  operator's pattern allows, or a file name inside the operator's secrets directory), or
  inline, which is then encrypted with the operator's key (refused when there is none). It is
  never stored in an event, and no response or log line ever carries it.
- A base URL is http(s), without user info, and none of the addresses its host resolves to is
  loopback, private, link-local (cloud metadata lives there), multicast, reserved or
  unspecified, unless the operator allows private addresses. The addresses are resolved by the
  handler (IO) and judged here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from promptworks_contracts.events import CredentialRef
from promptworks_eventkit.errors import DomainError

FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,199}$")
ANTHROPIC_URL = "https://api.anthropic.com"


@dataclass(frozen=True)
class CatalogRules:
    """What the operator allows (run-orchestrator's settings)."""

    credential_env_pattern: str
    allow_private_urls: bool
    can_encrypt: bool


@dataclass(frozen=True)
class CredentialInput:
    api_key: str | None = None
    api_key_env: str | None = None
    api_key_file: str | None = None


def credential_ref(given: CredentialInput, rules: CatalogRules) -> CredentialRef:
    """Where the credential will be kept; raises DomainError naming the field."""
    ways = [
        name
        for name, value in (
            ("api_key", given.api_key),
            ("api_key_env", given.api_key_env),
            ("api_key_file", given.api_key_file),
        )
        if value is not None
    ]
    if len(ways) > 1:
        raise DomainError(
            f"give the credential one way only, not {ways}", field=ways[1], rule="conflict"
        )
    if given.api_key_env is not None:
        name = given.api_key_env
        if not ENV_NAME.match(name) or not re.fullmatch(rules.credential_env_pattern, name):
            raise DomainError(
                f"environment variable {name!r} is not one the operator allows for credentials "
                f"(pattern {rules.credential_env_pattern})",
                field="api_key_env",
                rule="not_allowed",
            )
        return CredentialRef(source="env", name=name)
    if given.api_key_file is not None:
        if not FILE_NAME.match(given.api_key_file):
            raise DomainError(
                "a credential file is named by its file name in the operator's secrets "
                "directory (letters, digits, `.`, `_`, `-`; no path)",
                field="api_key_file",
                rule="not_allowed",
            )
        return CredentialRef(source="file", name=given.api_key_file)
    if given.api_key is not None:
        if not rules.can_encrypt:
            raise DomainError(
                "an inline api_key is stored encrypted, and the operator has set no "
                "PROVIDER_SECRET_KEY: give `api_key_env` or `api_key_file` instead",
                field="api_key",
                rule="encryption_unavailable",
            )
        if not given.api_key.strip():
            raise DomainError("api_key is empty", field="api_key", rule="missing")
        return CredentialRef(source="encrypted")
    return CredentialRef(source="none")


def url_host(base_url: str) -> str:
    """The host to resolve; raises DomainError when the URL itself is not acceptable."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DomainError(
            "base_url must be an http(s) URL with a host", field="base_url", rule="url"
        )
    if parts.username is not None or parts.password is not None:
        raise DomainError(
            "base_url must not carry credentials; give them as the api key",
            field="base_url",
            rule="credentials_in_url",
        )
    return parts.hostname


def check_addresses(host: str, addresses: Iterable[str], rules: CatalogRules) -> None:
    """Refuses a host that resolves to an address a server must not be made to call."""
    resolved = list(addresses)
    if not resolved:
        raise DomainError(
            f"the host {host!r} of base_url does not resolve", field="base_url", rule="unresolvable"
        )
    if rules.allow_private_urls:
        return
    for text in resolved:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if _internal(address):
            raise DomainError(
                f"base_url's host {host!r} resolves to {address}, an internal address "
                "(loopback, private, link-local or metadata); the operator has not allowed "
                "providers there (ALLOW_PRIVATE_PROVIDER_URLS)",
                field="base_url",
                rule="forbidden_address",
            )


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _internal(address.ipv4_mapped)
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )
