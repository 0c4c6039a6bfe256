"""Command handlers of the provider catalog: register, change, remove.

Each command appends its event and writes run-orchestrator's copy (with the encrypted
credential, which no event carries) in ONE write-port transaction. The base URL's host is
resolved here and judged by ``domain.providers`` before anything is written.

Every command acts in its context's project (ADR 0017): names are unique per project, and
another project's provider is "not in the catalog" (404), never changed or removed. The
built-in and PROVIDERS names are reserved in every project, since every project sees them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from promptworks_contracts.events import (
    ProviderChanged,
    ProviderRegistered,
    ProviderRemoved,
    ProviderState,
)
from promptworks_eventkit.errors import ConflictError, DomainError, NotFoundError
from promptworks_eventkit.messages import MessageContext, Position
from promptworks_eventkit.writing.port import WritePort
from run_orchestrator.domain.providers import (
    ANTHROPIC_URL,
    CatalogRules,
    CredentialInput,
    check_addresses,
    credential_ref,
    url_host,
)
from run_orchestrator.handlers.ports import RunRepository, StoredProvider

RESERVED_NAMES = frozenset({"mock"})


class AddressResolver(Protocol):
    async def resolve(self, host: str) -> list[str]:
        """Every address ``host`` resolves to (an IP literal resolves to itself)."""
        ...


class SecretBox(Protocol):
    def encrypt(self, secret: str) -> bytes: ...

    def decrypt(self, sealed: bytes) -> str: ...


@dataclass(frozen=True)
class ProviderAccepted:
    provider_id: UUID
    state: ProviderState
    positions: Sequence[Position]


class ProviderCommands:
    def __init__(
        self,
        port: WritePort[RunRepository],
        resolver: AddressResolver,
        box: SecretBox | None,
        rules: CatalogRules,
        configured_names: Collection[str],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._port = port
        self._resolver = resolver
        self._box = box
        self._rules = rules
        self._configured = frozenset(configured_names) | RESERVED_NAMES
        self._on_change = on_change

    async def register(
        self, state: ProviderState, credential: CredentialInput, actor: str, context: MessageContext
    ) -> ProviderAccepted:
        if state.name in self._configured:
            raise ConflictError(
                f"provider {state.name!r} is built in or configured in PROVIDERS",
                field="name",
                rule="reserved",
            )
        state = await self._checked(state, credential)
        secret = self._seal(credential)
        provider_id = uuid.uuid4()
        async with self._port.transaction(context) as tx:
            if await tx.repos.find_provider(state.name, context.project) is not None:
                raise ConflictError(
                    f"provider {state.name!r} exists", field="name", rule="duplicate"
                )
            event = ProviderRegistered(provider_id=provider_id, provider=state, actor=actor)
            await tx.append(str(provider_id), [event], 0)  # stamps project_id from the context
            stored = StoredProvider(provider_id, state, secret, context.project)
            await tx.repos.save_provider(stored)
        self._on_change()
        return ProviderAccepted(provider_id, state, tx.positions)

    async def change(
        self,
        name: str,
        changes: dict[str, object],
        credential: CredentialInput | None,
        actor: str,
        context: MessageContext,
    ) -> ProviderAccepted:
        async with self._port.transaction() as tx:
            current = await tx.repos.find_provider(name, context.project)
        if current is None:
            raise NotFoundError(f"provider {name!r} is not in the catalog", field="name")
        try:
            state = ProviderState.model_validate({**current.state.model_dump(), **changes})
        except ValueError as error:
            raise DomainError(str(error), field="body", rule="invalid") from error
        if credential is not None:
            state = state.model_copy(update={"credential": credential_ref(credential, self._rules)})
        state = await self._checked(state, credential)
        secret = self._seal(credential) if credential is not None else current.secret
        changed = sorted(
            key
            for key in ProviderState.model_fields
            if getattr(state, key) != getattr(current.state, key)
        )
        if credential is not None and "credential" not in changed:
            changed.append("credential")
        async with self._port.transaction(context) as tx:
            expected = await tx.version(str(current.provider_id))
            event = ProviderChanged(
                provider_id=current.provider_id, provider=state, changed=changed, actor=actor
            )
            await tx.append(str(current.provider_id), [event], expected)
            await tx.repos.save_provider(
                StoredProvider(current.provider_id, state, secret, current.project_id)
            )
        self._on_change()
        return ProviderAccepted(current.provider_id, state, tx.positions)

    async def remove(self, name: str, actor: str, context: MessageContext) -> ProviderAccepted:
        async with self._port.transaction(context) as tx:
            current = await tx.repos.find_provider(name, context.project)
            if current is None:
                raise NotFoundError(f"provider {name!r} is not in the catalog", field="name")
            expected = await tx.version(str(current.provider_id))
            event = ProviderRemoved(provider_id=current.provider_id, name=name, actor=actor)
            await tx.append(str(current.provider_id), [event], expected)
            await tx.repos.delete_provider(current.provider_id)
        self._on_change()
        return ProviderAccepted(current.provider_id, current.state, tx.positions)

    async def _checked(
        self, state: ProviderState, credential: CredentialInput | None
    ) -> ProviderState:
        if credential is not None:
            state = state.model_copy(update={"credential": credential_ref(credential, self._rules)})
        if state.kind == "openai" and not state.base_url:
            raise DomainError(
                "an openai-compatible provider needs its base_url", field="base_url", rule="missing"
            )
        url = state.base_url or ANTHROPIC_URL
        host = url_host(url)
        check_addresses(host, await self._resolver.resolve(host), self._rules)
        return state

    def _seal(self, credential: CredentialInput | None) -> bytes | None:
        if credential is None or credential.api_key is None:
            return None
        assert self._box is not None  # credential_ref refused an inline key without a box
        return self._box.encrypt(credential.api_key)
