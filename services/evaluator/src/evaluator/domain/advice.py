"""Optimisation advice, the pure part: what a run asked its model (kept from its
``RunCreated``), the question put to the judge model about the run's results, the structured
answer asked for, and reading that answer.

Invariants:
- The judge is asked, as one JSON object, for the original product's fields: ``overall_advice``,
  ``parameter_advice``, ``model_advice``, ``prompt_revision`` (the whole revised template, of
  the run's template kind, with its rationale) and ``validation_plan``. The JSON Schema travels
  as structured output and in the instructions.
- The question is grounded in the run: its template, model and parameters, the evaluation's
  summary (pass rate, per-metric means, latency, cost, flakiness) and its failing results
  (variables, expected output, output, why each failed), each cut to a bound.
- An answer is usable only when every field is a non-empty string (the rationale may be empty),
  the revision is a template of the run's kind, and it uses no variable the run's template does
  not (the run's cases would not fill it). Anything else is a problem string, never advice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from evaluator.domain.subject import short
from promptworks_contracts.api.completions import CompletionMessage, ResponseFormat
from promptworks_contracts.events import RunCreated
from promptworks_contracts.values import (
    ChatMessage,
    ChatTemplate,
    OptimisationAdvice,
    PromptTemplate,
    TextTemplate,
)

SCHEMA_NAME: Final = "optimisation_advice"
MAX_FAILING: Final = 20
"""Failing results quoted to the judge."""
MAX_QUOTED_CHARS: Final = 2000
"""Per quoted output, expected output or variables."""
TEXT_FIELDS: Final = (
    "overall_advice",
    "parameter_advice",
    "model_advice",
    "validation_plan",
)
VARIABLE: Final = re.compile(r"\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)")

TemplateKind = Literal["text", "chat"]

SYSTEM: Final = """You are an expert prompt engineer. You are shown a prompt template, the model and
parameters it was tested with, and the results of that test run: its summary metrics and the
results that failed, with why they failed. Advise how to make the prompt pass more often:
- overall_advice: the main problems you see in the results and what to change first;
- parameter_advice: the model parameters to change (temperature, top_p, max_tokens, stop ...)
  and why;
- model_advice: whether another model would suit the task better, and why;
- prompt_revision: the WHOLE revised template, ready to save as a new version; keep its
  {{{{ variable }}}} placeholders (use no variable the template does not already use), and give
  a short rationale;
- validation_plan: how to check the revision is better: which cases, how many repetitions,
  which metrics and thresholds to compare against this run.
Reply with ONLY a JSON object valid under this JSON Schema, no other text:
{schema}"""


def advice_subject(event: RunCreated) -> dict[str, Any]:
    """What advice needs of a run, kept when the run is seen (JSON)."""
    return {
        "prompt_id": str(event.prompt_id),
        "prompt_version_number": event.prompt_version_number,
        "template": event.template.model_dump(mode="json"),
        "model": event.model.model_dump(mode="json"),
        "parameters": event.parameters.model_dump(mode="json", exclude_none=True),
        "repetitions": event.repetitions,
        "cases": max(1, len(event.cases)),
    }


@dataclass(frozen=True)
class FailingResult:
    case_index: int
    repetition: int
    variables: Mapping[str, Any]
    expected: Any
    output: str | None
    error: str | None
    reasons: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class AdviceGrounds:
    """What the judge is shown about a run."""

    subject: Mapping[str, Any]
    summary: Mapping[str, Any] | None
    """The latest ``RunEvaluated`` (JSON); None if the run has none."""
    failing: Sequence[FailingResult]

    @property
    def kind(self) -> TemplateKind:
        return "chat" if self.subject["template"].get("kind") == "chat" else "text"


def answer_schema(kind: TemplateKind) -> dict[str, Any]:
    """The answer's JSON Schema (strict-mode compatible: every property required, no others)."""
    if kind == "chat":
        message = {
            "type": "object",
            "properties": {
                "role": {"type": "string", "enum": ["system", "user", "assistant"]},
                "content": {"type": "string"},
            },
            "required": ["role", "content"],
            "additionalProperties": False,
        }
        revision: dict[str, Any] = {
            "type": "object",
            "properties": {
                "messages": {"type": "array", "items": message},
                "rationale": {"type": "string"},
            },
            "required": ["messages", "rationale"],
            "additionalProperties": False,
        }
    else:
        revision = {
            "type": "object",
            "properties": {"template": {"type": "string"}, "rationale": {"type": "string"}},
            "required": ["template", "rationale"],
            "additionalProperties": False,
        }
    fields: dict[str, Any] = {name: {"type": "string"} for name in TEXT_FIELDS}
    fields["prompt_revision"] = revision
    return {
        "type": "object",
        "properties": fields,
        "required": [*TEXT_FIELDS[:3], "prompt_revision", TEXT_FIELDS[3]],
        "additionalProperties": False,
    }


def response_format(kind: TemplateKind) -> ResponseFormat:
    return ResponseFormat(name=SCHEMA_NAME, json_schema=answer_schema(kind))


def _quoted(value: Any, limit: int = MAX_QUOTED_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return short(text, limit)


def _summary_lines(summary: Mapping[str, Any]) -> list[str]:
    lines = [f"results evaluated: {summary.get('evaluated')}"]
    if summary.get("pass_rate") is not None:
        interval = summary.get("pass_rate_interval") or {}
        lines.append(
            f"pass rate: {summary['pass_rate']:.3f} "
            f"(95 % interval {interval.get('low', 0):.3f}-{interval.get('high', 1):.3f})"
        )
    for metric in summary.get("summaries") or []:
        parts = [f"metric {metric.get('name')}: mean {metric.get('mean')}"]
        if metric.get("passed") is not None or metric.get("failed") is not None:
            parts.append(f"passed {metric.get('passed')}, failed {metric.get('failed')}")
        lines.append(", ".join(parts))
    for key in ("latency", "tokens", "cost"):
        if summary.get(key) is not None:
            lines.append(f"{key}: {json.dumps(summary[key], ensure_ascii=False)}")
    cases = summary.get("cases") or {}
    if cases:
        lines.append(
            f"flaky cases: {cases.get('flaky')} of {cases.get('repeated')} repeated; "
            f"consistency score {cases.get('consistency_score')}"
        )
    return lines


def advice_messages(grounds: AdviceGrounds, focus: str | None) -> list[CompletionMessage]:
    schema = json.dumps(answer_schema(grounds.kind), ensure_ascii=False)
    subject = grounds.subject
    template = subject["template"]
    if grounds.kind == "chat":
        shown = "\n".join(f"[{m['role']}]\n{m['content']}" for m in template.get("messages", []))
    else:
        shown = str(template.get("text", ""))
    parts = [
        f"The prompt template ({grounds.kind}):\n<template>\n{short(shown, 20_000)}\n</template>",
        f"Model: {subject['model'].get('provider')}/{subject['model'].get('name')}; parameters: "
        f"{json.dumps(subject.get('parameters') or {}, ensure_ascii=False)}; "
        f"{subject.get('cases')} case(s) x {subject.get('repetitions')} repetition(s).",
    ]
    if grounds.summary is not None:
        parts.append("The run's evaluation:\n" + "\n".join(_summary_lines(grounds.summary)))
    if grounds.failing:
        shown_failures = []
        for failing in grounds.failing:
            lines = [f"- case {failing.case_index}, repetition {failing.repetition}"]
            if failing.variables:
                lines.append(f"  variables: {_quoted(dict(failing.variables))}")
            if failing.expected is not None:
                lines.append(f"  expected: {_quoted(failing.expected)}")
            if failing.output is not None:
                lines.append(f"  output: {_quoted(failing.output)}")
            if failing.error is not None:
                lines.append(f"  call error: {_quoted(failing.error, 300)}")
            for reason in failing.reasons:
                lines.append(f"  failed {reason.get('name')}: {_quoted(reason.get('detail'), 300)}")
            shown_failures.append("\n".join(lines))
        parts.append("Failing results (up to 20):\n" + "\n".join(shown_failures))
    else:
        parts.append("No result failed.")
    if focus:
        parts.append(f"What the team wants improved first: {short(focus, 2000)}")
    return [
        CompletionMessage(role="system", content=SYSTEM.format(schema=schema)),
        CompletionMessage(role="user", content="\n\n".join(parts)),
    ]


def ask_again(problem: str) -> str:
    return (
        f"That reply cannot be used: {problem}. Reply again with only the JSON object, every "
        "field filled in."
    )


def template_variables(template: Mapping[str, Any] | PromptTemplate) -> set[str]:
    if isinstance(template, TextTemplate | ChatTemplate):
        template = template.model_dump(mode="json")
    if template.get("kind") == "chat":
        text = "\n".join(str(m.get("content", "")) for m in template.get("messages", []))
    else:
        text = str(template.get("text", ""))
    return set(VARIABLE.findall(text))


def read_advice(
    text: str, grounds: AdviceGrounds
) -> tuple[OptimisationAdvice, None] | tuple[None, str]:
    """The advice in the judge's answer, or (None, why the answer is unusable)."""
    try:
        answer = json.loads(_unfenced(text))
    except (ValueError, RecursionError):
        return None, short(f"not JSON: {text!r}", 200)
    if not isinstance(answer, dict):
        return None, "not a JSON object"
    for name in TEXT_FIELDS:
        value = answer.get(name)
        if not isinstance(value, str) or not value.strip():
            return None, f"`{name}` is missing or empty"
    revision = answer.get("prompt_revision")
    if not isinstance(revision, dict):
        return None, "`prompt_revision` is not an object"
    rationale = revision.get("rationale", "")
    template: PromptTemplate
    if grounds.kind == "chat":
        messages = revision.get("messages")
        if not isinstance(messages, list) or not messages:
            return None, "`prompt_revision.messages` is missing or empty"
        read: list[ChatMessage] = []
        for message in messages:
            if (
                not isinstance(message, dict)
                or message.get("role") not in ("system", "user", "assistant")
                or not isinstance(message.get("content"), str)
                or not message["content"].strip()
            ):
                return None, "a `prompt_revision` message is not {role, content}"
            read.append(ChatMessage(role=message["role"], content=message["content"]))
        template = ChatTemplate(messages=read)
    else:
        body = revision.get("template")
        if not isinstance(body, str) or not body.strip():
            return None, "`prompt_revision.template` is missing or empty"
        template = TextTemplate(text=body)
    unknown = template_variables(template) - template_variables(grounds.subject["template"])
    if unknown:
        return None, (
            f"the revision uses variables the run's cases do not have: {sorted(unknown)}; "
            "keep the template's variables"
        )
    try:
        advice = OptimisationAdvice(
            overall_advice=answer["overall_advice"],
            parameter_advice=answer["parameter_advice"],
            model_advice=answer["model_advice"],
            prompt_revision=template,
            revision_rationale=rationale if isinstance(rationale, str) else "",
            validation_plan=answer["validation_plan"],
        )
    except ValueError as error:  # a field past its bound
        return None, short(f"unusable: {error}", 300)
    return advice, None


def _unfenced(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        body = stripped[3:-3]
        return body.split("\n", 1)[1] if "\n" in body else body
    return stripped
