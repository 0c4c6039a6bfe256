"""The providers a project may use: ``mock`` and those in PROVIDERS (in every project), plus
the project's own catalog providers. Every lookup names the project it is made for.

SDK clients are created in ``start()`` and closed in ``aclose()`` (the app's lifespan), so
nothing opens connections at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from promptworks_contracts.values import ModelPricing, ModelRef
from run_orchestrator.domain.catalog import ModelSpec
from run_orchestrator.providers.base import (
    ModelProvider,
    embedding_provider,
    no_embeddings_problem,
)
from run_orchestrator.providers.catalog import CatalogProviders
from run_orchestrator.providers.mock import MockProvider
from run_orchestrator.settings import MOCK_PROVIDER, ProviderConfig, RunOrchestratorSettings

FREE = ModelPricing(input_per_million=Decimal(0), output_per_million=Decimal(0))
"""The mock's price unless MOCK_MODELS sets one: it calls nothing that costs money."""
MAX_POOL_SIZE = 10_000


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    kind: str
    models: Mapping[str, ModelSpec] = field(default_factory=dict)
    """Prices and limits of the models the configuration lists (what a client needs to
    estimate a run's cost before starting it); never a URL or a key."""


class ProviderRegistry:
    """The built-in mock, the PROVIDERS configuration and (optionally) the API's catalog."""

    def __init__(
        self, settings: RunOrchestratorSettings, catalog: CatalogProviders | None = None
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._providers: dict[str, ModelProvider] = {}

    def describe_configured(self) -> list[ProviderInfo]:
        """The mock and PROVIDERS: names, kinds and listed models; never a URL, never a key."""
        configured = [
            ProviderInfo(n, c.kind, c.models) for n, c in sorted(self._settings.providers.items())
        ]
        return [ProviderInfo(MOCK_PROVIDER, "mock", self._settings.mock_models), *configured]

    def names(self, project: str) -> list[str]:
        catalog = self._catalog.names(project) if self._catalog else []
        return [info.name for info in self.describe_configured()] + catalog

    def is_configured(self, project: str, name: str) -> bool:
        in_catalog = self._catalog is not None and self._catalog.has(project, name)
        return name == MOCK_PROVIDER or name in self._settings.providers or in_catalog

    def embeddings_problem(self, project: str, name: str) -> str | None:
        """Why ``name`` cannot embed texts (a kind without embeddings, e.g. anthropic); None
        when it can or is not configured (that is ``is_configured``'s answer)."""
        provider = self.get(project, name)
        if provider is None or embedding_provider(provider) is not None:
            return None
        return no_embeddings_problem(provider.kind, name)

    def model_spec(self, project: str, model: ModelRef) -> ModelSpec | None:
        """What is known about the model in ``project``; None when it is not listed."""
        if model.provider == MOCK_PROVIDER:
            return self._settings.mock_models.get(model.name)
        config = self._settings.providers.get(model.provider)
        if config is not None:
            return config.models.get(model.name)
        if self._catalog is None:
            return None
        return self._catalog.spec(project, model.provider, model.name)

    def pricing(self, project: str, model: ModelRef) -> ModelPricing | None:
        spec = self.model_spec(project, model)
        if spec is None:
            return FREE if model.provider == MOCK_PROVIDER else None
        return spec.pricing

    async def start(self) -> None:
        settings = self._settings
        self._providers = {
            MOCK_PROVIDER: MockProvider(
                latency_ms=settings.mock_latency_ms,
                failure_rate=settings.mock_failure_rate,
                max_concurrency=settings.mock_max_concurrency,
            )
        }
        for name, config in settings.providers.items():
            self._providers[name] = sdk_provider(name, config, pool_size_for(settings, config))

    def get(self, project: str, name: str) -> ModelProvider | None:
        static = self._providers.get(name)
        if static is not None or self._catalog is None:
            return static
        return self._catalog.get(project, name)

    async def aclose(self) -> None:
        providers, self._providers = self._providers, {}
        for provider in providers.values():
            await provider.aclose()
        if self._catalog is not None:
            await self._catalog.aclose()


def pool_size_for(settings: RunOrchestratorSettings, config: ProviderConfig) -> int:
    """Every run of this provider may have its concurrency in flight at once: the pool must
    never be what makes calls queue."""
    per_run = config.max_concurrency or settings.max_concurrency
    return min(MAX_POOL_SIZE, per_run * settings.max_parallel_runs)


def sdk_provider(name: str, config: ProviderConfig, pool_size: int) -> ModelProvider:
    # The SDKs take seconds to import (anthropic ~1.9 s, openai ~0.6 s on this project's
    # machines): only the kinds configured are loaded, so `migrate` and a mock-only service
    # start without them.
    if config.kind == "anthropic":
        from run_orchestrator.providers.anthropic_messages import AnthropicProvider

        return AnthropicProvider(name, config, pool_size=pool_size)
    from run_orchestrator.providers.openai_compat import OpenAICompatibleProvider

    return OpenAICompatibleProvider(name, config, pool_size=pool_size)
