"""The providers registered through the API, as this replica sees them.

Invariants:
- Each project has its own catalog: entries and clients are keyed by (project, name), so two
  projects may each have an ``acme`` and neither reaches the other's.
- The catalog is re-read every ``catalog_refresh_seconds`` and at once after a change made
  through this replica, so every replica converges within that interval.
- An SDK client is built on first use and rebuilt when its provider's state changed; a
  removed provider's client is closed.
- Credentials are resolved when the client is built: an environment variable, a file in the
  operator's secrets directory, or decrypted with the operator's key. A credential that cannot
  be resolved leaves the provider unusable (its runs fail with a clear reason); the key itself
  is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

import structlog
from pydantic import SecretStr

from promptworks_contracts.events import ProviderState
from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_contracts.values import ModelSpec
from run_orchestrator.handlers.ports import StoredProvider
from run_orchestrator.providers.base import ModelProvider
from run_orchestrator.settings import ProviderConfig

log = structlog.get_logger(__name__)

ProviderFactory = Callable[[str, ProviderConfig], ModelProvider]
Key = tuple[str, str]
"""(project, provider name)"""


def scoped_name(project: str, name: str) -> str:
    """The name a catalog client is built with, and so the key of its breaker, gates and
    shared rate-limit schedule (``execution.calls``): the bare name in ``default`` (as before
    projects), ``project/name`` elsewhere (a project id has no ``/``)."""
    return name if project == DEFAULT_PROJECT else f"{project}/{name}"


class CredentialUnavailableError(Exception):
    """The provider's credential cannot be read (unset variable, missing file, wrong key)."""


class Decrypter(Protocol):
    def decrypt(self, sealed: bytes) -> str: ...


class CatalogProviders:
    def __init__(
        self,
        load: Callable[[], Awaitable[list[StoredProvider]]],
        factory: ProviderFactory,
        *,
        secrets_dir: str,
        box: Decrypter | None,
        refresh_seconds: float,
    ) -> None:
        self._load = load
        self._factory = factory
        self._secrets_dir = Path(secrets_dir)
        self._box = box
        self._refresh_seconds = refresh_seconds
        self._entries: dict[Key, StoredProvider] = {}
        self._clients: dict[Key, tuple[ProviderState, ModelProvider]] = {}
        self._changed = asyncio.Event()

    def names(self, project: str) -> list[str]:
        return sorted(name for owner, name in self._entries if owner == project)

    def has(self, project: str, name: str) -> bool:
        return (project, name) in self._entries

    def spec(self, project: str, provider: str, model: str) -> ModelSpec | None:
        entry = self._entries.get((project, provider))
        return None if entry is None else entry.state.models.get(model)

    def changed(self) -> None:
        """A change was committed through this replica: re-read the catalog now."""
        self._changed.set()

    async def refresh(self) -> None:
        entries = {(p.project_id, p.state.name): p for p in await self._load()}
        self._entries = entries
        stale = [
            key
            for key, (state, _) in self._clients.items()
            if entries.get(key) is None or entries[key].state != state
        ]
        for key in stale:
            _, client = self._clients.pop(key)
            await client.aclose()

    async def keep_fresh(self) -> None:
        """Re-reads the catalog until cancelled (a background task of the service)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self._refresh_seconds)
            self._changed.clear()
            try:
                await self.refresh()
            except Exception:
                log.exception("reading the provider catalog failed; keeping the last copy")

    def get(self, project: str, name: str) -> ModelProvider | None:
        key = (project, name)
        entry = self._entries.get(key)
        if entry is None:
            return None
        built = self._clients.get(key)
        if built is not None and built[0] == entry.state:
            return built[1]
        try:
            config = self._config(entry)
        except CredentialUnavailableError as error:
            log.warning(
                "catalog provider unusable", provider=name, project=project, reason=str(error)
            )
            return None
        client = self._factory(scoped_name(project, name), config)
        self._clients[key] = (entry.state, client)
        return client

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for _, client in clients.values():
            await client.aclose()

    def _config(self, entry: StoredProvider) -> ProviderConfig:
        state = entry.state
        return ProviderConfig(
            kind="anthropic" if state.kind == "anthropic" else "openai",
            base_url=state.base_url,
            api_key=SecretStr(self._credential(entry)),
            timeout_seconds=state.timeout_seconds,
            max_concurrency=state.max_concurrency,
            limits=state.limits,
            models=state.models,
        )

    def _credential(self, entry: StoredProvider) -> str:
        credential = entry.state.credential
        if credential.source == "none":
            return ""
        if credential.source == "env":
            value = os.environ.get(credential.name or "")
            if not value:
                raise CredentialUnavailableError(f"environment variable {credential.name} is unset")
            return value
        if credential.source == "file":
            path = self._secrets_dir / (credential.name or "")
            try:
                return path.read_text().strip()
            except OSError as error:
                raise CredentialUnavailableError(f"cannot read {path}: {error.strerror}") from None
        if self._box is None or entry.secret is None:
            raise CredentialUnavailableError("the credential is encrypted and no key is set")
        try:
            return self._box.decrypt(entry.secret)
        except Exception as error:  # cryptography's InvalidToken: another key
            raise CredentialUnavailableError(f"cannot decrypt: {type(error).__name__}") from None
