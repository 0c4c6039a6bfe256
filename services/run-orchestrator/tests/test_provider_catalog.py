"""The provider catalog: its rules (pure), and the whole path on real PostgreSQL and Kafka:
registered through HTTP, used by a run against a loopback OpenAI-compatible server, its key
never in an event, a response or a log line; SSRF refusals."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from cryptography.fernet import Fernet

from promptworks_contracts.events import CredentialRef, ProviderState
from promptworks_eventkit.errors import DomainError
from run_orchestrator.domain.providers import (
    CatalogRules,
    CredentialInput,
    check_addresses,
    credential_ref,
    url_host,
)
from run_orchestrator.handlers.ports import StoredProvider
from run_orchestrator.providers.base import ModelProvider
from run_orchestrator.providers.catalog import CatalogProviders
from run_orchestrator.providers.mock import MockProvider
from run_orchestrator.settings import ProviderConfig
from tests.support.fake_openai import serving_fake_openai

RULES = CatalogRules(
    credential_env_pattern=r"^[A-Z0-9_]*API_KEY[A-Z0-9_]*$",
    allow_private_urls=False,
    can_encrypt=True,
)
SECRET = "sk-catalog-secret-never-shown-77"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fd00:ec2::254",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "100.64.0.1",
        "224.0.0.1",
    ],
)
def test_internal_addresses_are_refused(address: str) -> None:
    with pytest.raises(DomainError) as refused:
        check_addresses("host.example", [address], RULES)
    assert (refused.value.field, refused.value.rule) == ("base_url", "forbidden_address")


def test_public_addresses_pass_and_the_operator_may_allow_private_ones() -> None:
    check_addresses("api.example", ["93.184.216.34", "2606:2800:220:1::1"], RULES)
    allowing = CatalogRules(RULES.credential_env_pattern, True, True)
    check_addresses("vllm", ["10.0.0.5"], allowing)
    with pytest.raises(DomainError, match="internal address"):
        check_addresses("mixed", ["93.184.216.34", "10.0.0.5"], RULES)  # any one is enough


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ftp://x/v1", "url"),
        ("http:///v1", "url"),
        ("https://u:p@api.example/v1", "credentials_in_url"),
    ],
)
def test_base_urls_must_be_plain_http(url: str, rule: str) -> None:
    with pytest.raises(DomainError) as refused:
        url_host(url)
    assert refused.value.rule == rule


@pytest.mark.parametrize(
    ("given", "field", "rule"),
    [
        (CredentialInput(api_key="a", api_key_env="OPENAI_API_KEY"), "api_key_env", "conflict"),
        (CredentialInput(api_key_env="DATABASE_URL"), "api_key_env", "not_allowed"),
        (CredentialInput(api_key_file="../etc/shadow"), "api_key_file", "not_allowed"),
        (CredentialInput(api_key_file="/etc/shadow"), "api_key_file", "not_allowed"),
    ],
)
def test_credentials_by_reference_are_restricted(
    given: CredentialInput, field: str, rule: str
) -> None:
    with pytest.raises(DomainError) as refused:
        credential_ref(given, RULES)
    assert (refused.value.field, refused.value.rule) == (field, rule)


def test_an_inline_key_needs_the_operators_encryption_key() -> None:
    assert credential_ref(CredentialInput(api_key="k"), RULES).source == "encrypted"
    assert credential_ref(CredentialInput(api_key_env="OPENAI_API_KEY"), RULES).name == (
        "OPENAI_API_KEY"
    )
    without = CatalogRules(RULES.credential_env_pattern, False, can_encrypt=False)
    with pytest.raises(DomainError) as refused:
        credential_ref(CredentialInput(api_key="k"), without)
    assert refused.value.rule == "encryption_unavailable"


async def test_each_project_sees_its_own_catalog_entry_under_its_own_limits() -> None:
    """Two projects' ``acme``: each project gets its own client, and another project's client
    is named after its project, so breakers, gates and shared schedules are not shared."""

    def acme(project: str, timeout: float) -> StoredProvider:
        state = ProviderState(
            name="acme",
            kind="openai",
            base_url="https://api.example.com/v1",
            credential=CredentialRef(source="none"),
            timeout_seconds=timeout,
        )
        return StoredProvider(uuid.uuid4(), state, None, project)

    async def load() -> list[StoredProvider]:
        return [acme("default", 5), acme("b", 7)]

    built: dict[str, ProviderConfig] = {}

    def factory(name: str, config: ProviderConfig) -> ModelProvider:
        built[name] = config
        return MockProvider()

    catalog = CatalogProviders(
        load, factory, secrets_dir="/nonexistent", box=None, refresh_seconds=60
    )
    await catalog.refresh()
    assert catalog.names("b") == ["acme"] and catalog.names("c") == []
    assert catalog.has("default", "acme") and not catalog.has("c", "acme")
    assert catalog.get("c", "acme") is None
    assert catalog.get("b", "acme") is not catalog.get("default", "acme")
    assert {name: c.timeout_seconds for name, c in built.items()} == {"b/acme": 7, "acme": 5}
    await catalog.aclose()


async def test_a_registered_provider_serves_runs_and_never_shows_its_key(
    harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    version = await harness.publish_version("Hi {{ name }}")
    catalog = {
        "provider_secret_key": Fernet.generate_key().decode(),
        "allow_private_provider_urls": True,  # the loopback fake
    }
    async with serving_fake_openai() as fake, harness.client(**catalog) as client:
        price = {"input_per_million": "1", "output_per_million": "2"}
        registered = await client.post(
            "/providers",
            json={
                "name": "acme",
                "base_url": fake.base_url,
                "api_key": SECRET,
                "models": {"gpt-test": {"pricing": price, "context_length": 8192}},
            },
            headers={"X-Actor": "ops"},
        )
        assert registered.status_code == 201, registered.text
        assert registered.json()["credential"] == {"source": "encrypted", "name": None}
        duplicate = await client.post(
            "/providers", json={"name": "acme", "base_url": fake.base_url}
        )
        assert duplicate.status_code == 409
        reserved = await client.post("/providers", json={"name": "mock", "base_url": fake.base_url})
        assert reserved.status_code == 409
        run = await client.post(
            "/runs",
            json={
                "prompt_version_id": str(version.version_id),
                "provider": "acme",
                "model_name": "gpt-test",
                "cases": [{"name": "Ada"}],
            },
        )
        assert run.status_code == 201, run.text
        assert run.json()["pricing"]["input_per_million"] == "1"
        stored = await harness.wait_finished(run.json()["run_id"])
        changed = await client.patch("/providers/acme", json={"timeout_seconds": 5})
        assert changed.status_code == 200 and changed.json()["timeout_seconds"] == 5
        listed = await client.get("/providers")
        assert [p["name"] for p in listed.json()] == ["mock", "acme"]
        presets = await client.get("/provider-presets")
        assert {"openai", "deepseek", "dashscope", "moonshot", "zhipu", "ollama"} <= {
            p["name"] for p in presets.json()
        }
        removed = await client.delete("/providers/acme")
        assert removed.status_code == 204
        gone = await client.patch("/providers/acme", json={"timeout_seconds": 5})
        assert gone.status_code == 404
        texts = [registered.text, changed.text, listed.text, run.text]
    assert fake.authorizations == [f"Bearer {SECRET}"]  # the key reached the provider only
    assert stored[-1][2]["status"] == "completed"
    catalog_events = await harness.fetchval(
        "SELECT string_agg(data::text, ' ' ORDER BY position) FROM events "
        "WHERE event_type LIKE 'promptworks.provider.%'"
    )
    assert '"source":"encrypted"' in catalog_events.replace(" ", "")
    # What the relay sends: each event's data (the message) and its envelope (the headers).
    outbox = await harness.fetchval(
        "SELECT string_agg(data::text || metadata::text, ' ') FROM events"
    )
    everything = " ".join([*texts, catalog_events, outbox, caplog.text])
    assert SECRET not in everything


async def test_base_urls_pointing_inside_are_refused(harness: Any) -> None:
    async with harness.client() as client:
        for url in (
            "http://127.0.0.1:9/v1",
            "http://169.254.169.254/latest",
            "http://localhost/v1",
        ):
            response = await client.post(
                "/providers", json={"name": "sneaky", "base_url": url, "api_key_env": "X_API_KEY"}
            )
            assert response.status_code == 422, (url, response.text)
            detail = response.json()["errors"][0]
            assert (detail["field"], detail["type"]) == ("base_url", "forbidden_address")
        inline = await client.post(
            "/providers",
            json={"name": "acme", "base_url": "https://api.example.com/v1", "api_key": "k"},
        )
        assert inline.status_code == 422 and "encryption_unavailable" in inline.text
        assert await harness.fetchval("SELECT count(*) FROM provider_catalog") == 0
