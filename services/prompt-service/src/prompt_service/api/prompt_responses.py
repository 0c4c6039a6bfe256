"""Response bodies of the prompt commands, built from the prompt's state after the command."""

from __future__ import annotations

from fastapi import Response

from prompt_service.api.common import written
from prompt_service.api.schemas import PromptResponse, VersionCreatedResponse, WarningModel
from prompt_service.handlers.prompts import PromptWritten


def _warnings(result: PromptWritten) -> list[WarningModel]:
    return [WarningModel(field=w.field, type=w.type, msg=w.msg) for w in result.warnings]


def version_created(result: PromptWritten, response: Response) -> VersionCreatedResponse:
    prompt, version = result.prompt, result.new_version
    assert prompt.prompt_id is not None and version is not None
    return VersionCreatedResponse(
        prompt_id=prompt.prompt_id,
        version_id=version.version_id,
        version_number=version.number,
        class_id=prompt.class_id,
        tag_ids=list(prompt.tag_ids),
        warnings=_warnings(result),
        stream_version=prompt.version,
        positions=written(response, prompt.version, result.positions),
    )


def prompt_written(result: PromptWritten, response: Response) -> PromptResponse:
    prompt, version = result.prompt, result.new_version
    assert prompt.prompt_id is not None
    return PromptResponse(
        prompt_id=prompt.prompt_id,
        name=prompt.name,
        description=prompt.description,
        author=prompt.author,
        class_id=prompt.class_id,
        tag_ids=list(prompt.tag_ids),
        labels=prompt.labels,
        current_version=prompt.current_version,
        latest_version=prompt.latest_version,
        archived=prompt.archived,
        version_id=version.version_id if version else None,
        version_number=version.number if version else None,
        warnings=_warnings(result),
        stream_version=prompt.version,
        positions=written(response, prompt.version, result.positions),
    )
