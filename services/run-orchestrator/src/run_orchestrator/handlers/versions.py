"""Which prompt version a command means: named directly, or a prompt's label resolved now.

The local copy of versions may lag a prompt created a moment ago (it arrives through Kafka):
a command waits for it, bounded by ``prompt_wait_seconds``.
"""

from __future__ import annotations

import asyncio
import time

from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.writing.port import WritePort
from run_orchestrator.domain.commands import VersionSelector
from run_orchestrator.domain.prompt_version import PromptVersion
from run_orchestrator.handlers.ports import RunRepository

VERSION_POLL_SECONDS = 0.05


async def await_version(
    port: WritePort[RunRepository],
    selector: VersionSelector,
    wait_seconds: float,
    project: str = DEFAULT_PROJECT,
) -> PromptVersion:
    """The version, once the local copy has it; one of another project is unknown at once
    (never used, never revealed)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        async with port.transaction() as tx:
            version_id = selector.prompt_version_id
            if version_id is None:
                assert selector.prompt_id is not None and selector.label is not None
                version_id = await tx.repos.resolve_label(selector.prompt_id, selector.label)
            version = None if version_id is None else await tx.repos.find_version(version_id)
        if version is not None and version.project_id != project:
            raise _unknown_version(selector)
        if version is not None:
            return version
        if time.monotonic() >= deadline:
            raise _unknown_version(selector)
        await asyncio.sleep(VERSION_POLL_SECONDS)


def _unknown_version(selector: VersionSelector) -> DomainError:
    if selector.prompt_version_id is not None:
        return DomainError(
            f"prompt version {selector.prompt_version_id} does not exist",
            field="prompt_version_id",
            rule="not_found",
        )
    return DomainError(
        f"prompt {selector.prompt_id} has no version labelled {selector.label!r}",
        field="label",
        rule="not_found",
    )
