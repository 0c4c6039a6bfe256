"""A catalog of runs (and the prompts they use) covering every run status, for the run read
models' tests; the metrics of some results arrive before their results."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from promptworks_contracts.events import (
    PromptCreated,
    PromptVersionCreated,
    QuickTestCompleted,
    ResultEvaluated,
    ResultRecorded,
    RunCompleted,
    RunCreated,
    RunEvaluated,
    RunFailed,
    RunStarted,
)
from promptworks_contracts.values import (
    AssertionFailure,
    ChatMessage,
    ChatTemplate,
    DimensionScore,
    Judgement,
    MetricSummary,
    MetricValue,
    ModelParameters,
    ModelRef,
    Money,
    TextTemplate,
    TokenUsage,
    VariableSpec,
)


def _prompt(name: str, author: str) -> PromptCreated:
    return PromptCreated(prompt_id=uuid.uuid4(), name=name, author=author)


def _version(prompt: PromptCreated, number: int, **fields: Any) -> PromptVersionCreated:
    fields.setdefault("template", TextTemplate(text=f"{prompt.name} v{number}"))
    return PromptVersionCreated(
        prompt_id=prompt.prompt_id, version_id=uuid.uuid4(), number=number, **fields
    )


METADATA = {"ticket": "PW-12", "owner": "ann", "ui": {"pinned": True}}
"""The free metadata of the ``done`` run (the original frontend's ``schema``)."""


def _run(version: PromptVersionCreated, cases: int, repetitions: int, **fields: Any) -> RunCreated:
    return RunCreated(
        run_id=uuid.uuid4(),
        prompt_id=version.prompt_id,
        prompt_version_id=version.version_id,
        prompt_version_number=version.number,
        template=version.template,
        model=ModelRef(provider="mock", name="echo"),
        parameters=ModelParameters(temperature=0.2, top_p=0.9),
        repetitions=repetitions,
        cases=[{"name": f"user{i}"} for i in range(cases)],
        total_calls=max(cases, 1) * repetitions,
        **fields,
    )


def _metrics(result: ResultRecorded) -> ResultEvaluated:
    """Metrics and a verdict; results with an output were judged (a score per dimension)."""
    failed = result.error is not None
    return ResultEvaluated(
        run_id=result.run_id,
        result_id=result.result_id,
        metrics=[
            MetricValue(name="latency_ms", value=result.latency_ms),
            MetricValue(name="contains_0", passed=not failed, detail="checked"),
            MetricValue(name="output_chars", value=float(len(result.output or ""))),
        ],
        passed=not failed,
        score=0.0 if failed else 1.0,
        reasons=[AssertionFailure(name="error", type="error", detail=result.error)]
        if failed
        else [],
        judgements=[]
        if failed
        else [
            Judgement(
                name="judge_1",
                model=ModelRef(provider="mock", name="judge"),
                scores=[DimensionScore(dimension="准确性", score=80.0, reason="right")],
                score=80.0,
                attempts=1,
                cost=Money(amount=Decimal("0.0001")),
            )
        ],
    )


@dataclass
class Catalog:
    """Three prompts (one with two versions) and four runs that cover every status (the prompt
    read models have their own, richer world: ``prompt_world.World``).

    ``done`` is completed with 4 results (one failed call) and every metric; the metrics of
    its first two results and ``early``'s summary are applied BEFORE their result/run exists.
    """

    greeting: PromptCreated
    summarize: PromptCreated
    translator: PromptCreated
    greeting_v1: PromptVersionCreated
    greeting_v2: PromptVersionCreated
    summarize_v1: PromptVersionCreated
    translator_v1: PromptVersionCreated
    done: RunCreated
    failed: RunCreated
    running: RunCreated
    early: RunCreated
    results: list[ResultRecorded]
    quick_test: QuickTestCompleted

    @classmethod
    def build(cls) -> Catalog:
        greeting = _prompt("greeting", "ann lee")
        summarize = _prompt("summarize article", "bob stone")
        translator = _prompt("translator", "carol")
        v1, summarize_v1 = _version(greeting, 1, label="v1"), _version(summarize, 1, label="1st")
        v2 = _version(
            greeting,
            2,
            label="v2",
            template=ChatTemplate(messages=[ChatMessage(role="user", content="Hi {{ name }}")]),
            variables=[VariableSpec(name="name")],
            default_model=ModelRef(provider="mock", name="echo"),
            commit_message="chat form",
            author="ann lee",
        )
        done = _run(v2, 2, 2, notes="smoke", batch_id="batch-1", metadata=METADATA)
        results = [
            ResultRecorded(
                run_id=done.run_id,
                result_id=uuid.uuid4(),
                case_index=case,
                repetition=repetition,
                output=None if (case, repetition) == (1, 2) else f"Hi user{case}",
                error="timeout" if (case, repetition) == (1, 2) else None,
                latency_ms=10.0 * (case + 1) + repetition,
                usage=TokenUsage(prompt_tokens=5, completion_tokens=3, total_tokens=8),
                finish_reason="stop",
            )
            for case in range(2)
            for repetition in (1, 2)
        ]
        return cls(
            greeting=greeting,
            summarize=summarize,
            translator=translator,
            greeting_v1=v1,
            greeting_v2=v2,
            summarize_v1=summarize_v1,
            translator_v1=_version(translator, 1),
            done=done,
            failed=_run(v1, 1, 1),
            running=_run(summarize_v1, 0, 3),
            early=_run(v2, 1, 1),
            results=results,
            quick_test=QuickTestCompleted(
                quick_test_id=uuid.uuid4(),
                prompt_id=greeting.prompt_id,
                prompt_version_id=v2.version_id,
                prompt_version_number=2,
                label="latest",
                model=ModelRef(provider="openai", name="gpt-4o-mini"),
                parameters=ModelParameters(temperature=0.3),
                variables={"name": "Ada"},
                output="Hi Ada",
                usage=TokenUsage(prompt_tokens=4, completion_tokens=2, total_tokens=6),
                cost=Money(amount=Decimal("0.000012"), currency="USD"),
                latency_ms=42.0,
                finish_reason="stop",
                streamed=True,
                actor="ann",
            ),
        )

    async def publish(self, publisher: Any, api: Any) -> None:
        done, early, results = self.done, self.early, self.results
        summary = RunEvaluated(
            run_id=done.run_id,
            evaluated=4,
            summaries=[MetricSummary(name="contains_0", count=4, pass_rate=0.75)],
            passed=3,
            pass_rate=0.75,
            judge_cost=Money(amount=Decimal("0.0003")),
        )
        # 1. Evaluations that arrive before the result or run they describe.
        await publisher.publish(
            [_metrics(results[0]), _metrics(results[1]), replace_run(summary, early.run_id)]
        )
        await api.applied(summary, 2)
        await api.applied(replace_run(summary, early.run_id), 1)
        # 2. Prompts (greeting's v2 last: it becomes the most recently updated) and runs.
        await publisher.publish(
            [
                self.greeting, self.greeting_v1, self.summarize, self.summarize_v1,
                self.translator, self.translator_v1, self.greeting_v2,
                done, RunStarted(run_id=done.run_id), *reversed(results),
                RunCompleted(run_id=done.run_id, status="completed", succeeded=3, failed=1),
                self.failed, RunStarted(run_id=self.failed.run_id),
                RunFailed(run_id=self.failed.run_id, reason="provider 'nope' is not configured"),
                self.running, RunStarted(run_id=self.running.run_id),
                early, RunStarted(run_id=early.run_id),
                RunCompleted(run_id=early.run_id, status="completed", succeeded=1, failed=0),
                self.quick_test,
            ]
        )  # fmt: skip
        # 3. The rest of the evaluations, after their results.
        await publisher.publish([_metrics(results[2]), _metrics(results[3]), summary])
        for event in (self.greeting, self.summarize, self.translator, done, early):
            await api.applied(event, publisher.version(event))
        for event in (self.failed, self.running, summary, self.quick_test):
            await api.applied(event, publisher.version(event))


def replace_run(event: RunEvaluated, run_id: uuid.UUID) -> RunEvaluated:
    return event.model_copy(update={"run_id": run_id})
