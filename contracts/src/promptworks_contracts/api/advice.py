"""Request bodies of optimisation advice: ``POST /test_prompt/{id}/advice`` (ask a judge model
for advice on a finished run) and ``POST /test_prompt/{id}/advice/{advice_id}/apply`` (save its
proposed revision as a new prompt version)."""

from __future__ import annotations

from uuid import UUID

from pydantic import ConfigDict, Field

from promptworks_contracts.api.completions import PROVIDER_NAME_PATTERN
from promptworks_contracts.api.prompts import Body, Message


class AdviceRequest(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"provider": "openai", "model": "gpt-4o", "focus": "fewer invalid JSON answers"}
            ]
        },
    )

    provider: str = Field(min_length=1, max_length=64, pattern=PROVIDER_NAME_PATTERN)
    model: str = Field(min_length=1, max_length=200)
    focus: str | None = Field(
        default=None, max_length=2000, description="What to improve first (free text)."
    )
    max_attempts: int = Field(
        default=3, ge=1, le=5, description="Asks before an unusable answer is a failure."
    )
    evaluation_id: UUID | None = Field(
        default=None,
        description="The evaluation the advice is grounded in (its summary and failing "
        "results): the run's id for its first evaluation, a re-evaluation's id for that one. "
        "Default: the run's latest finished evaluation when the advice is asked for.",
    )


class ApplyAdviceRequest(Body):
    """Saves the advice's proposed revision as a new version of the run's prompt."""

    label: str | None = Field(
        default=None, max_length=50, description="The new version's free-text label."
    )
    commit_message: Message = Field(
        default="", description="Default: names the advice and the run it came from."
    )
