"""GET /test_prompt/{id}/compare: a run against a baseline on the same cases, from real events;
and the statistics against values computed by hand."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from promptworks_contracts.events import (
    BatchCell,
    BatchCreated,
    ResultEvaluated,
    ResultRecorded,
    RunCreated,
)
from promptworks_contracts.values import MetricValue, ModelParameters, ModelRef, TextTemplate
from query_api.queries.comparison_stats import mcnemar_exact, normal_interval, paired_bootstrap

RUNS = "/api/v1/test_prompt"
CASES, REPETITIONS = 10, 3


def test_mcnemar_exact_against_hand_computed_values() -> None:
    # n = 10 discordant pairs, min(b, c) = 3: 2 * (C(10,0)+C(10,1)+C(10,2)+C(10,3)) / 2^10
    assert mcnemar_exact(3, 7) == pytest.approx(2 * (1 + 10 + 45 + 120) / 1024)
    assert mcnemar_exact(12, 0) == pytest.approx(2 / 2**12)
    assert mcnemar_exact(5, 5) == 1.0 and mcnemar_exact(0, 0) == 1.0
    assert 0.0 < mcnemar_exact(20_000, 19_000) < 1e-6  # large n neither overflows nor is 0


def test_the_paired_bootstrap_brackets_the_mean_difference() -> None:
    assert paired_bootstrap([2.0] * 50) == (2.0, 2.0, 2.0)
    mean, low, high = paired_bootstrap([float(i % 7) - 3.0 for i in range(700)])
    assert mean == pytest.approx(0.0) and low < 0 < high
    # Beyond the bootstrap's size: mean ± 1.96 s/√n (s = 10, n = 10,000: ± 0.196)
    assert normal_interval(2.0, 10.0, 10_000) == pytest.approx((2.0 - 0.19599640, 2.0 + 0.19599640))


def run(prompt_id: uuid.UUID, version_id: uuid.UUID) -> RunCreated:
    return RunCreated(
        run_id=uuid.uuid4(),
        prompt_id=prompt_id,
        prompt_version_id=version_id,
        prompt_version_number=1,
        template=TextTemplate(text="Hi {{ name }}"),
        model=ModelRef(provider="mock", name="echo"),
        parameters=ModelParameters(),
        repetitions=REPETITIONS,
        cases=[{"name": f"u{i}"} for i in range(CASES)],
        total_calls=CASES * REPETITIONS,
    )


def results(
    created: RunCreated, latency: float, failing: set[tuple[int, int]]
) -> list[ResultRecorded | ResultEvaluated]:
    events: list[ResultRecorded | ResultEvaluated] = []
    for case in range(CASES):
        for repetition in range(1, REPETITIONS + 1):
            result_id = uuid.uuid4()
            passed = (case, repetition) not in failing
            events.append(
                ResultRecorded(
                    run_id=created.run_id,
                    result_id=result_id,
                    case_index=case,
                    repetition=repetition,
                    output="ok",
                    latency_ms=latency + case,
                )
            )
            events.append(
                ResultEvaluated(
                    run_id=created.run_id,
                    result_id=result_id,
                    metrics=[
                        MetricValue(name="latency_ms", value=latency + case),
                        MetricValue(name="judge.准确性", value=80.0 if passed else 30.0),
                    ],
                    passed=passed,
                    score=1.0 if passed else 0.0,
                )
            )
    return events


@pytest.mark.integration
async def test_a_regression_is_found_with_its_cases_and_deltas(api: Any, publisher: Any) -> None:
    prompt_id, version_id = uuid.uuid4(), uuid.uuid4()
    baseline, candidate = run(prompt_id, version_id), run(prompt_id, version_id)
    broken = {(case, 1) for case in range(CASES)} | {(0, 2), (1, 2)}  # 12 pairs now fail
    baseline_events = results(baseline, 100.0, failing=set())
    candidate_events = results(candidate, 150.0, failing=broken)
    batch = BatchCreated(
        batch_id=uuid.uuid4(),
        cells=[
            BatchCell(
                run_id=r.run_id,
                prompt_version_id=version_id,
                prompt_version_number=1,
                model=r.model,
                parameters=r.parameters,
                parameter_set=i,
            )
            for i, r in enumerate((baseline, candidate))
        ],
        total_calls=2 * CASES * REPETITIONS,
    )
    events = [batch, baseline, candidate, *baseline_events, *candidate_events]
    await publisher.publish(events)
    for event in (batch, baseline, candidate, baseline_events[-1], candidate_events[-1]):
        await api.applied(event, publisher.version(event))

    response = await api.client.get(
        f"{RUNS}/{candidate.run_id}/compare", params={"baseline": str(baseline.run_id)}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["pairs"], body["unpaired"]) == (30, 0)
    rate = body["pass_rate"]
    assert (rate["baseline"], rate["candidate"]) == (1.0, pytest.approx(18 / 30))
    assert (rate["baseline_only"], rate["candidate_only"]) == (12, 0)
    assert rate["p_value"] == pytest.approx(2 / 2**12) and rate["significant"] is True
    assert (body["verdict"], body["regressed"]) == ("regressed", True)
    assert {(p["case_index"], p["repetition"]) for p in body["regressions"]} == broken
    assert body["fixes"] == []
    metrics = {m["name"]: m for m in body["metrics"]}
    latency = metrics["latency_ms"]
    assert (latency["pairs"], latency["delta"]) == (30, 50.0)
    assert latency["delta_interval"] == {"low": 50.0, "high": 50.0}  # every pair moved by 50
    assert latency["significant"] is True
    judge = metrics["judge.准确性"]
    assert judge["delta"] == pytest.approx(-50.0 * 12 / 30)
    assert judge["delta_interval"]["high"] < 0 and judge["significant"] is True

    # The other way round it is an improvement; a tolerated drop is no regression.
    reverse = await api.client.get(
        f"{RUNS}/{baseline.run_id}/compare", params={"baseline": str(candidate.run_id)}
    )
    assert (reverse.json()["verdict"], reverse.json()["regressed"]) == ("improved", False)
    tolerant = await api.client.get(
        f"{RUNS}/{candidate.run_id}/compare",
        params={"baseline": str(baseline.run_id), "max_pass_rate_drop": 0.5},
    )
    assert tolerant.json()["regressed"] is False

    unknown = await api.client.get(
        f"{RUNS}/{candidate.run_id}/compare", params={"baseline": str(uuid.uuid4())}
    )
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "baseline"

    # Every cell of the batch against its baseline cell: the same answer per cell.
    cells = await api.client.get(
        f"/api/v1/batches/{batch.batch_id}/compare", params={"baseline": str(baseline.run_id)}
    )
    assert cells.status_code == 200, cells.text
    matrix = cells.json()
    assert matrix["regressed"] is True
    assert [c["run_id"] for c in matrix["cells"]] == [str(baseline.run_id), str(candidate.run_id)]
    assert matrix["cells"][0]["comparison"] is None
    assert matrix["cells"][1]["comparison"] == body
    outsider = await api.client.get(
        f"/api/v1/batches/{batch.batch_id}/compare", params={"baseline": str(uuid.uuid4())}
    )
    assert outsider.status_code == 422 and outsider.json()["errors"][0]["field"] == "baseline"
