"""Property-based tests of every service's OpenAPI document with schemathesis, against the
four services as real processes: whatever input the documents allow (and the boundary values
and negative cases schemathesis derives from them), no answer is a 5xx and every answer
conforms to its documented schema.

Bounded so CI stays fast: a few examples per operation, deterministic generation (the same
cases every run, so a failure reproduces), all of schemathesis's phases (examples, coverage,
fuzzing, stateful). A failure prints schemathesis's report with a curl line to replay it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from devstack.services import Stack
from tests.e2e.conftest import running_stack
from tests.support.infra import Infra

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 20
DOCUMENTS = {
    "prompt-service": "/openapi.json",
    "run-orchestrator": "/openapi.json",
    "evaluator": "/openapi.json",
    "query-api": "/api/v1/openapi.json",
}


@pytest.fixture(scope="module")
async def fuzz_stack(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    # An unknown prompt version is answered after a bounded wait for the prompt copy: short
    # here, or every generated POST /runs would wait out the default 5 s.
    extra_env = {"run-orchestrator": {"PROMPT_WAIT_SECONDS": "0.05"}}
    async with running_stack(infra, Path(tmp_path_factory.mktemp("fuzz")), extra_env) as stack:
        await _seed(stack)
        yield stack


async def _seed(stack: Stack) -> None:
    """A prompt with versions, a label, a class and a tag, and a finished run: operations on an
    existing resource are reached only when one exists (schemathesis follows the ids the
    lists answer with)."""
    async with httpx.AsyncClient(base_url=f"{stack.url('query-api')}/api/v1", timeout=30) as api:
        tag = await api.post("/prompt-tags", json={"name": "fuzz", "color": "#112233"})
        assert tag.status_code == 201, tag.text
        body = {"name": "seed", "class_name": "fuzz", "tags": ["fuzz"], "content": "Hi {{ name }}"}
        prompt = await api.post("/prompts", json=body)
        assert prompt.status_code == 201, prompt.text
        prompt_id = prompt.json()["id"]
        second = await api.post(f"/prompts/{prompt_id}/versions", json={"content": "Yo {{ name }}"})
        assert second.status_code == 201, second.text
        label = await api.put(f"/prompts/{prompt_id}/labels/production", json={"version_number": 1})
        assert label.status_code == 200, label.text
        version_id = second.json()["versions"][0]["id"]  # newest first
        run = await api.post(
            "/test_prompt", json={"prompt_version_id": version_id, "cases": [{"name": "Ann"}]}
        )
        assert run.status_code in (201, 202), run.text


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
async def test_no_input_the_document_allows_gets_a_5xx_or_an_undocumented_answer(
    fuzz_stack: Stack, service: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{fuzz_stack.url(service)}{DOCUMENTS[service]}",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--generation-deterministic",
        # A busy CI machine can take seconds to answer one request; that is no failure.
        "--request-timeout",
        "60",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, f"schemathesis found failures in {service}:\n{report}"
    assert " passed" in report and "generated" in report


async def test_every_error_answer_of_every_service_is_documented_as_the_problem(
    fuzz_stack: Stack,
) -> None:
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    async with httpx.AsyncClient(timeout=30) as client:
        for service, path in sorted(DOCUMENTS.items()):
            document = (await client.get(f"{fuzz_stack.url(service)}{path}")).json()
            assert {"Problem", "ProblemItem"} <= set(document["components"]["schemas"]), service
            for route, item in document["paths"].items():
                for method, operation in item.items():
                    errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
                    assert {"422", "500"} <= set(errors), (service, method, route)
                    for status, response in errors.items():
                        assert response["content"] == problem, (service, method, route, status)
            # And an unknown route answers in that shape.
            missing = await client.get(f"{fuzz_stack.url(service)}/no-such-route/")
            assert missing.status_code == 404, service
            assert missing.headers["content-type"] == "application/problem+json", service
            assert missing.json()["type"] == "urn:promptworks:problem:not-found", service
