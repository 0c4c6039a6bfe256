"""Racing writers on real PostgreSQL and Kafka: no lost update, no gap, no duplicate name.

The version race runs half its writers through the in-process app and half through a second
prompt-service PROCESS on a loopback port, so two connection pools truly write in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.credentials import SERVICE_TOKEN, service_headers

pytestmark = pytest.mark.integration

WRITERS = 20
NAME_RACERS = 10


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def second_process(service: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Another prompt-service process on the same database (its relay off: one relay is enough)."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": service.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": service.kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": service.kafka.topic_prefix,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "SERVICE_TOKEN": SERVICE_TOKEN,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "prompt_service", "serve", "--no-relay", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=60, headers=service_headers()
        ) as client:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                assert time.monotonic() < deadline, "the second prompt-service did not start"
                assert process.returncode is None, "the second prompt-service exited"
                await asyncio.sleep(0.1)
            yield client
    finally:
        process.terminate()
        await process.wait()


async def test_twenty_writers_on_one_prompt_get_contiguous_versions_and_lose_nothing(
    service: Any,
) -> None:
    created = await service.client.post("/prompts", json={"name": "raced", "content": "v1"})
    prompt_id = created.json()["prompt_id"]
    path = f"/prompts/{prompt_id}/versions"
    won: dict[int, int] = {}
    conflicts = 0

    async def writer(index: int, client: httpx.AsyncClient) -> None:
        nonlocal conflicts
        expected = created.json()["stream_version"]
        for _ in range(WRITERS * 3):
            response = await client.post(
                path,
                json={"content": f"writer {index}"},
                headers={"If-Match": f'"{expected}"', "X-Actor": f"w{index}"},
            )
            if response.status_code == 201:
                won[index] = response.json()["version_number"]
                return
            assert response.status_code == 409, response.text
            expected = response.json()["current_version"]  # like a real client: re-read, retry
            conflicts += 1
        raise AssertionError(f"writer {index} never got through")

    async with second_process(service) as other:
        clients = [service.client, other]
        await asyncio.gather(*(writer(i, clients[i % 2]) for i in range(WRITERS)))

    assert sorted(won) == list(range(WRITERS))
    assert sorted(won.values()) == list(range(2, WRITERS + 2)), "each writer got its own number"
    assert conflicts > 0, "the writers really raced"
    stream = await service.stream(prompt_id)
    assert [version for version, _, _ in stream] == list(range(1, WRITERS + 3))
    versions = [data for _, kind, data in stream if kind.endswith("version_created.v1")]
    assert [v["number"] for v in versions] == list(range(1, WRITERS + 2))
    texts = [v["template"]["text"] for v in versions]
    assert sorted(texts) == sorted(["v1", *(f"writer {i}" for i in range(WRITERS))])
    for index, number in won.items():
        assert versions[number - 1]["template"]["text"] == f"writer {index}"
        assert versions[number - 1]["actor"] == f"w{index}"
    published = await service.published(WRITERS + 2)
    assert sorted(r.envelope.streamversion for r in published) == list(range(1, WRITERS + 3))


async def test_ten_creators_of_one_name_in_one_class_get_one_201(service: Any) -> None:
    payload = {"name": "only-one", "class_name": "fresh-class", "content": "x"}
    responses = await asyncio.gather(
        *(service.client.post("/prompts", json=payload) for _ in range(NAME_RACERS))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (NAME_RACERS - 1), [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert (service.error(response)["field"], service.error(response)["type"]) == (
                "name",
                "unique",
            )
    counts = await service.lookup_counts()
    assert (counts["prompt_names"], counts["classes"]) == (1, 1)
    kinds = [r["event_type"] for r in await service.query("SELECT event_type FROM events")]
    assert sorted(kinds) == sorted(
        [
            "promptworks.prompt_class.created.v1",
            "promptworks.prompt.created.v1",
            "promptworks.prompt.version_created.v1",
        ]
    ), "the class was created once, by the winner"


@pytest.mark.parametrize("kind", ["tag", "class"])
async def test_attaching_while_deleting_never_leaves_a_dangling_reference(
    service: Any, kind: str
) -> None:
    """Prompts join a tag (or class) while it is deleted with ?detach=true: each join either
    commits first and is then undone by the delete, or waits for it and gets 422 not_found."""
    client = service.client
    prompts = []
    for i in range(10):
        created = await client.post("/prompts", json={"name": f"p{i}", "content": "x"})
        prompts.append(created.json()["prompt_id"])

    async def later(seconds: float, call: Any, path: str, **kwargs: Any) -> httpx.Response:
        await asyncio.sleep(seconds)
        response: httpx.Response = await call(path, **kwargs)
        return response

    for round_ in range(4):
        if kind == "tag":
            made = await client.post(
                "/prompt-tags", json={"name": f"t{round_}", "color": "#123456"}
            )
            target, collection = made.json()["tag_id"], "/prompt-tags"
            join = {"tag_ids": [target]}
        else:
            made = await client.post("/prompt-classes", json={"name": f"c{round_}"})
            target, collection = made.json()["class_id"], "/prompt-classes"
            join = {"class_id": target}
        # Round 0: every join and the delete at once. Later rounds: joins 15 ms apart and the
        # delete among them, so some commit before it and some wait for it.
        gap = 0.015 if round_ else 0.0
        joins = [
            later(gap * i, client.patch, f"/prompts/{p}", json=join) for i, p in enumerate(prompts)
        ]
        detach = {"detach": "true"}
        delete = later(0.04 * round_, client.delete, f"{collection}/{target}", params=detach)
        *joined, deleted = await asyncio.gather(*joins, delete)
        assert deleted.status_code == 200, deleted.text
        for response in joined:
            assert response.status_code in (200, 422), response.text
            if response.status_code == 422:
                assert service.error(response)["type"] == "not_found"
        winners = {r.json()["prompt_id"] for r in joined if r.status_code == 200}
        assert set(deleted.json()["detached_prompt_ids"]) == winners, "every join is undone"
        assert await service.query("SELECT * FROM prompt_tags") == []
        assert await service.query("SELECT * FROM prompt_names WHERE class_id IS NOT NULL") == []
        for prompt_id in prompts:
            stream = await service.stream(prompt_id)
            assert [v for v, _, _ in stream] == list(range(1, len(stream) + 1))
            assert stream[-1][2].get("tag_ids", []) == []
            assert stream[-1][2].get("class_id") is None
