"""Benchmark: the evaluator worker's per-result work in-process, without PostgreSQL or Kafka:
``evaluate_result`` (the checks, the event and its outcome), the claim's statistics and the
event's JSON, over ``bench.evaluator_throughput``'s results, in claims of 500; and the checks
alone (``RunPlan.judge``). CPU time per result, the best of ``--rounds`` (the machine is
shared: the best round is the least disturbed one), each round on the same plan (what it keeps
per reference text made in the first round) and, ``cold``, on a plan of its own (made for
each case's first result, as in a run of 10 repetitions); ``--calls`` adds cProfile's Python calls
per result (C functions count as calls too, so fewer calls is not always less work).

    uv run python -m bench.evaluator_cpu [--cases 500] [--rounds 5] [--calls] [--split]

To compare with another commit, put that commit's ``services/evaluator/src``,
``libs/eventkit/src`` and ``contracts/src`` first on ``PYTHONPATH`` and run both in turn.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import os
import pstats
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bench.evaluator_throughput import run_events
from evaluator.domain.plan import RunPlan
from evaluator.domain.stats import accumulate_all
from evaluator.domain.subject import Check, Subject
from evaluator.handlers import evaluation
from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import ResultRecorded, RunCreated, decode_event
from promptworks_eventkit.messages import MessageContext, new_envelopes

CLAIM = 500


def main(cases: int, rounds: int, calls: bool, split: bool = False) -> dict[str, object]:
    events = run_events(cases, 10)
    created = events[0]
    assert isinstance(created, RunCreated)
    results = [e for e in events if isinstance(e, ResultRecorded)]
    plan = RunPlan.compile(created.assertions, created.cases, created.expected)
    # Older commits add up the models (``event.metrics``); this one the encoded fields.
    fields = getattr(evaluation, "metric_fields", None)

    def claims(plan: RunPlan = plan) -> None:
        for start in range(0, len(results), CLAIM):
            made = [
                evaluation.evaluate_result(plan, r, None, None)[0]
                for r in results[start : start + CLAIM]
            ]
            accumulate_all({}, [fields(e) if fields else e.metrics for e in made])
            for event in made:
                event.model_dump_json()

    def judge(plan: RunPlan = plan) -> None:
        for result in results:
            plan.judge(result)

    def per_result(work: Callable[[], None]) -> float:
        best = float("inf")
        for _ in range(rounds):
            started = time.process_time()
            work()
            best = min(best, time.process_time() - started)
        return round(best / len(results) * 1e6, 1)

    def cold(work: Callable[[RunPlan], None]) -> float:
        """``work`` on a plan compiled for the round (untimed): what a plan keeps per
        reference is made once per case, as in a run, not once for every round."""
        plans = iter(
            [
                RunPlan.compile(created.assertions, created.cases, created.expected)
                for _ in range(rounds)
            ]
        )
        return per_result(lambda: work(next(plans)))

    report: dict[str, object] = {
        "nproc": os.cpu_count(),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "results": len(results),
        "worker_us_per_result": per_result(claims),
        "worker_cold_us_per_result": cold(claims),
        "checks_alone_us_per_result": per_result(judge),
        "checks_alone_cold_us_per_result": cold(judge),
    }
    if split:
        subjects = [plan.subject(r) for r in results]
        report["checks_us_per_result"] = {
            check.name: per_result(functools.partial(_run_all, check.run, subjects))
            for check in plan.checks
        }
        report["checks_cold_us_per_result"] = {
            check.name: cold(
                lambda fresh, i=i: _run_all(fresh.checks[i].run, subjects)  # type: ignore[misc]
            )
            for i, check in enumerate(plan.checks)
        }
        records = [_record(result) for result in results]

        def decode() -> None:
            for headers, value in records:
                envelope = Envelope.from_kafka_headers(headers)
                decode_event(envelope.type, value)

        report["decode_us_per_result"] = per_result(decode)
    if calls:
        profiler = cProfile.Profile()
        profiler.runcall(claims)
        total: int = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]
        report["python_calls_per_result"] = round(total / len(results), 1)
    return report


def _run_all(check: Check, subjects: list[Subject]) -> None:
    for subject in subjects:
        check(subject)


def _record(result: ResultRecorded) -> tuple[list[tuple[str, bytes]], bytes]:
    """The Kafka headers and value the run orchestrator's relay gives a result."""
    context = MessageContext(correlation_id=f"bench-{result.run_id}", traceparent=_TRACEPARENT)
    [envelope] = new_envelopes(
        "/run-orchestrator", result.stream_id(), [result], 1, context, datetime.now(UTC)
    )
    return envelope.to_kafka_headers(), result.model_dump_json().encode()


_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", action="store_true")
    parser.add_argument("--split", action="store_true")
    arguments = parser.parse_args()
    report = main(arguments.cases, arguments.rounds, arguments.calls, arguments.split)
    print(json.dumps(report, indent=2))
