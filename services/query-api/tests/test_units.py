"""Unit tests of the pure parts: the variables report's fast path, stream-order levels, what a
forwarded write waits for, the answer to a render missing variables; and the projection's bulk
rows, on a real database."""

from __future__ import annotations

import json
import math
import struct
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import Numeric, Text, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import PromptCreated, PromptVersionCreated, decode_event
from promptworks_contracts.values import ChatMessage, ChatTemplate, TextTemplate, VariableSpec
from promptworks_eventkit.http import PositionOut, install_edge
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import stream_levels
from promptworks_eventkit.settings import KafkaSettings, ServiceSettings
from promptworks_eventkit.templating import TemplateError, check
from query_api import writes
from query_api.api.errors import install_render_error_handler
from query_api.projections._util import jsonb_text, unnest_rows, unnest_source
from query_api.projections.variables import used_variables, variables_report
from query_api.queries.render import MissingVariablesError
from query_api.read_schema import LIVE, use_schema
from query_api.rebuild.bulk import BulkRefused, decode
from query_api.rebuild.workers import (
    RECORDS_PER_PROCESS,
    assign,
    default_processes,
    may_spread,
    processes_for,
    shares,
)
from query_api.tables import metrics, result_verdicts, results
from query_api.tables.runs import MONEY

TEMPLATES = [
    "no variables at all",
    "Hello {{ name }}",
    "{{name}}{{ other }} and {{  name  }}",
    "{{- trimmed -}} text",
    'JSON {"a": {"b": 1}} with {{ value }}',
    "{{ true }} {{ None }} {{ x }}",
    "{{ user.name }} {{ items[0] }}",
    "{{ name | upper }}",
    "{% if flag %}{{ a }}{% else %}{{ b }}{% endif %}",
    "{% for item in items %}{{ item }}{{ loop.index }}{% endfor %}",
    "{# a comment #}{{ kept }}",
    "{{{ weird }}}",
    "{{ '{{' }} literal",
    "a } b }} c { d",
]


def outcome(source: str, parse: Callable[[str], frozenset[str]]) -> frozenset[str] | str:
    try:
        return parse(source)
    except TemplateError:
        return "invalid"


@pytest.mark.parametrize("source", TEMPLATES)
def test_the_fast_path_agrees_with_the_template_parser(source: str) -> None:
    used_variables.cache_clear()
    expected = outcome(source, lambda s: check(s).used_variables)
    assert outcome(source, used_variables) == expected


def test_invalid_templates_are_reported_not_raised() -> None:
    with pytest.raises(TemplateError):
        used_variables("{{ unclosed ")
    report = variables_report(TextTemplate(text="{% if %}"), [])
    assert report["undeclared"] == [] and "line 1" in report["error"]


def test_the_report_covers_every_chat_message() -> None:
    template = ChatTemplate(
        messages=[
            ChatMessage(role="system", content="Be {{ tone }}"),
            ChatMessage(role="user", content="{{ question }}"),
        ]
    )
    declared = [VariableSpec(name="question"), VariableSpec(name="extra")]
    assert variables_report(template, declared) == {"undeclared": ["tone"], "unused": ["extra"]}


def received(event: PromptCreated | PromptVersionCreated, version: int) -> ReceivedEvent:
    envelope = Envelope(
        id=uuid.uuid4(),
        type=event.event_type,
        source="/tests",
        subject=event.stream_id(),
        time=datetime.now(UTC),
        correlationid="tests",
        streamversion=version,
    )
    return ReceivedEvent("promptworks.prompt", 0, version, envelope, event)


def test_levels_keep_each_streams_order_and_group_types() -> None:
    a, b = (PromptCreated(prompt_id=uuid.uuid4(), name=n) for n in "ab")

    def version(prompt: PromptCreated, number: int) -> PromptVersionCreated:
        return PromptVersionCreated(
            prompt_id=prompt.prompt_id,
            version_id=uuid.uuid4(),
            number=number,
            template=TextTemplate(text="x"),
        )

    batch = [
        received(a, 1), received(version(a, 1), 2), received(b, 1), received(version(b, 1), 2),
        received(version(b, 2), 3), received(a.model_copy(), 3),
    ]  # fmt: skip
    found = stream_levels(batch)
    as_pairs = [[(e.envelope.subject, e.envelope.streamversion) for e in level] for level in found]
    sa, sb = str(a.prompt_id), str(b.prompt_id)
    # A's created | A's version, B's created | B's two versions... each stream in order.
    assert as_pairs == [[(sa, 1), (sb, 1)], [(sa, 2), (sb, 2), (sb, 3)], [(sa, 3)]]
    assert {e.envelope.type for e in found[0]} == {a.event_type}


def test_a_write_waits_for_the_positions_answer_only() -> None:
    answer = {"positions": [{"stream_id": "a", "stream_version": 3}], "stream_version": 3}
    assert writes._positions(answer) == [PositionOut(stream_id="a", stream_version=3)]
    assert writes._positions({"stream_version": 3}) is None  # no fallback: passed through
    assert writes._positions({"positions": [{"stream_id": "a"}]}) is None


async def test_missing_variables_are_one_error_each_located_in_the_body() -> None:
    app = FastAPI()
    install_edge(app, ServiceSettings())
    install_render_error_handler(app)

    @app.post("/prompts/{prompt_id}/render")
    async def render(prompt_id: str) -> None:
        raise MissingVariablesError(["name", "greeting"])

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://query-api") as client:
        response = await client.post("/prompts/p/render", json={"variables": {}})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:promptworks:problem:invalid-input",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "variables.name: variable 'name' is required and has no default (and 1 more)",
        "errors": [
            {
                "loc": ["body", "variables", name],
                "field": f"variables.{name}",
                "type": "missing",
                "msg": f"variable {name!r} is required and has no default",
            }
            for name in ("name", "greeting")
        ],
    }


async def test_bulk_rows_arrive_exactly_as_json_or_as_arrays(database: Any) -> None:
    """The projection's bulk writes (``_util.unnest_source``): the rows as one JSON parameter,
    and the rows JSON cannot carry exactly (a NaN, an integer beyond 64 bits) as arrays; both
    store the same values the rows hold."""
    engine = create_async_engine(await database("query-api"), poolclass=NullPool)
    use_schema(engine, LIVE)
    result = uuid.uuid4()
    finite = [
        {
            "result_id": result,
            "name": 'quo"te\\ é ✓',
            "value": 0.1 + 0.2,
            "passed": True,
            "detail": None,
        },
        {"result_id": result, "name": "b", "value": None, "passed": None, "detail": "{x}"},
    ]
    not_json = [
        {"result_id": result, "name": "c", "value": math.nan, "passed": False, "detail": ""}
    ]
    verdict = {
        "result_id": result,
        "passed": True,
        "score": 1e-300,
        "reasons": '["a", 1]',
        "judgements": "[]",
        "output_checks": None,
    }
    moments = {
        "at": datetime(2026, 11, 29, 8, 0, 0, 123456, tzinfo=UTC),
        "n": Decimal("1E-7"),
        "big": 2**70,
        "tags": ['a"b', "c,d", None],
    }
    types = {"at": results.c.created_at.type, "n": MONEY, "big": Numeric(), "tags": ARRAY(Text())}
    try:
        async with engine.begin() as connection:
            for rows in (finite, not_json):
                names, source = unnest_rows(metrics, rows)
                await connection.execute(metrics.insert().from_select(names, source))
            names, source = unnest_rows(result_verdicts, [verdict])
            await connection.execute(result_verdicts.insert().from_select(names, source))
            stored = {
                row.name: dict(row._mapping) for row in await connection.execute(select(metrics))
            }
            stored_verdict = (await connection.execute(select(result_verdicts))).one()
            echoed = (await connection.execute(select(unnest_source(types, [moments])))).one()
        assert [stored[row["name"]] for row in finite] == finite
        assert math.isnan(stored["c"]["value"])
        assert {k: v for k, v in stored["c"].items() if k != "value"} == {
            k: v for k, v in not_json[0].items() if k != "value"
        }
        assert stored_verdict.reasons == ["a", 1] and stored_verdict.score == 1e-300
        assert stored_verdict.judgements == [] and stored_verdict.output_checks is None
        assert echoed.at == moments["at"] and echoed.n == Decimal("1E-7") and echoed.big == 2**70
        assert echoed.tags == moments["tags"]
    finally:
        await engine.dispose()


async def test_jsonb_text_stores_what_the_standard_librarys_json_stored(database: Any) -> None:
    """``_util.jsonb_text`` (orjson, the standard library for what orjson refuses) gives the
    JSONB values ``json.dumps`` gave: non-ASCII, escapes, nesting, an integer beyond 64 bits;
    a lone surrogate still fails in PostgreSQL as it did."""
    engine = create_async_engine(await database("query-api"), poolclass=NullPool)
    values: list[Any] = [
        {"name": 'quo"te\\ é ✓ \n\t 日本', "class_id": None, "tags_added": ["a", "b"]},
        {"number": 3, "label": None, "changed": [], "nested": {"x": [1, {"y": True}]}},
        {"big": 2**70, "small": -(2**63)},
        {"control": "\u0001\u001f", "emoji": "\U0001f600"},
    ]
    try:
        async with engine.connect() as connection:
            for value in values:
                fast = await connection.scalar(
                    text("SELECT CAST(:v AS jsonb)"), {"v": jsonb_text(value)}
                )
                standard = await connection.scalar(
                    text("SELECT CAST(:v AS jsonb)"),
                    {"v": json.dumps(value, separators=(",", ":"))},
                )
                assert fast == standard == value
        assert jsonb_text({"s": "\ud800"}) == json.dumps({"s": "\ud800"}, separators=(",", ":"))
    finally:
        await engine.dispose()


def test_the_replay_is_shared_by_partition_keeping_a_run_and_the_catalogue_whole() -> None:
    kafka = KafkaSettings(topic_prefix="t")
    prompt, run, evaluation = (
        kafka.topic(t) for t in ("promptworks.prompt", "promptworks.run", "promptworks.evaluation")
    )
    ends = {TopicPartition(topic, p): 10 * (p + 1) for topic in (prompt, run, evaluation)
            for p in range(3)}  # fmt: skip
    ends[TopicPartition(run, 2)] = ends[TopicPartition(evaluation, 2)] = 0  # nothing there
    groups = shares(kafka, ends)
    assert sorted(groups) == sorted(
        [
            [TopicPartition(prompt, p) for p in range(3)],  # the catalogue in one process
            [TopicPartition(evaluation, 0), TopicPartition(run, 0)],  # a run's two topics
            [TopicPartition(evaluation, 1), TopicPartition(run, 1)],
        ]
    )
    work = assign(groups, ends, processes=2)
    assert len(work) == 2 and sorted(tp for share in work for tp in share) == sorted(
        tp for group in groups for tp in group
    )
    # Largest first, each to the least loaded: the catalogue (60) alone, the runs (40 + 20).
    assert sorted(sum(share.values()) for share in work) == [60, 60]
    # Topics not partitioned alike: a run's events could be in two partitions; one share.
    ends[TopicPartition(run, 3)] = 5
    assert sorted(len(group) for group in shares(kafka, ends)) == [3, 7]
    # Unasked, a small replay stays in one process; asked, as many as asked.
    assert processes_for(RECORDS_PER_PROCESS - 1, None) == 1
    assert processes_for(10, 3) == 3
    # A fork server only where more than one process can replay: never with one CPU or one
    # process asked.
    assert may_spread(3) and not may_spread(1)
    assert may_spread(None) == (default_processes() > 1)
    assert processes_for(100 * RECORDS_PER_PROCESS, None) == 1 or may_spread(None)


def _record(
    tp: TopicPartition, offset: int, headers: Any, value: bytes
) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, value, None, 0, len(value),
                          headers)  # fmt: skip


def test_the_bulk_path_decodes_a_batch_as_the_consumer_decodes_each_event() -> None:
    """The rebuild's bulk decoding (``rebuild.bulk.decode``): per batch, the same envelopes
    and events as ``Envelope.from_kafka_headers`` and ``decode_event`` one at a time; what
    they would refuse, it refuses (the batch then goes the consumer's way)."""
    tp = TopicPartition("pw.prompt-events", 0)
    created = PromptCreated(prompt_id=uuid.uuid4(), name="a", author="ann")
    version = PromptVersionCreated(
        prompt_id=created.prompt_id, version_id=uuid.uuid4(), number=1,
        template=TextTemplate(text="Hi {{ name }}"),
    )  # fmt: skip
    envelopes = [
        Envelope(id=uuid.uuid4(), type=e.event_type, source="/t", subject=e.stream_id(),
                 time=datetime.now(UTC), correlationid="c", streamversion=i + 1)
        for i, e in enumerate([created, version])
    ]  # fmt: skip
    records = [
        (tp, _record(tp, i, envelope.to_kafka_headers(), event.model_dump_json().encode()))
        for i, (envelope, event) in enumerate(zip(envelopes, [created, version], strict=True))
    ]
    unhandled = Envelope(**{**envelopes[0].model_dump(), "type": "promptworks.other.thing.v1"})
    records.append((tp, _record(tp, 2, unhandled.to_kafka_headers(), b"{}")))
    handled = {created.event_type, version.event_type}
    events = decode(records, handled.__contains__, lambda _: "prompt-events")
    assert [(e.topic, e.partition, e.offset) for e in events] == [
        ("prompt-events", 0, 0), ("prompt-events", 0, 1),
    ]  # fmt: skip
    assert [e.event for e in events] == [
        decode_event(r.headers[3][1].decode(), r.value) for _, r in records[:2]
    ]
    assert [e.envelope.model_dump() for e in events] == [
        Envelope.from_kafka_headers(r.headers).model_dump() for _, r in records[:2]
    ]
    # A value holding two JSON values (it would shift the batch's array): refused.
    two = (
        tp,
        _record(tp, 3, records[0][1].headers, records[0][1].value + b"," + records[0][1].value),
    )
    with pytest.raises(BulkRefused):
        decode([records[0], two], handled.__contains__, lambda _: "prompt-events")
    # Data the model rejects, or an envelope that is no CloudEvent: raised, as one by one.
    bad = (tp, _record(tp, 4, records[0][1].headers, b'{"name": "no id"}'))
    with pytest.raises(ValidationError):
        decode([records[0], bad], handled.__contains__, lambda _: "prompt-events")
    headless = (tp, _record(tp, 5, [("ce_type", created.event_type.encode())], b"{}"))
    with pytest.raises(ValidationError):
        decode([headless], handled.__contains__, lambda _: "prompt-events")


def result_row(**given: Any) -> dict[str, Any]:
    """A result's own columns as the projection renders them, with ``given`` changed."""
    return {
        "result_id": uuid.uuid4(),
        "run_id": uuid.uuid4(),
        "case_index": 0,
        "repetition": 1,
        "output": "out",
        "latency_ms": 12.5,
        "prompt_tokens": 5,
        "completion_tokens": 3,
        "total_tokens": 8,
        "finish_reason": "stop",
        "error": None,
        "created_at": datetime(2026, 11, 30, tzinfo=UTC),
        "cost": None,
        "currency": None,
        "cached": False,
        **given,
    }


@pytest.mark.parametrize("evaluated", [False, True])
def test_an_evaluation_spliced_into_a_document_is_the_whole_render(evaluated: bool) -> None:
    """``store_evaluated``'s splice, as its SQL does it (``substr``/``strpos`` on the first
    ``,"metrics":`` and ``,"test_run_id":``): the stored head and tail around the evaluated part
    rendered alone give the bytes of a whole render, whatever the output holds."""
    from promptworks_contracts.values import AssertionFailure
    from query_api.projections.result_documents import (
        AFTER_EVALUATED,
        EVALUATED_AT,
        NO_VERDICT,
        render,
        render_evaluated,
    )

    own = result_row(
        case_index=3,
        output='a ,"metrics":[] and ,"test_run_id":"x" \\" 准确',
        created_at=datetime(2026, 11, 29, tzinfo=UTC),
        cost=Decimal("0.000123"),
        currency="USD",
    )
    metrics = [
        {"name": "Zeta", "value": None, "passed": False, "detail": 'says "no"'},
        {"name": "latency_ms", "value": 0.1 + 0.2, "passed": None, "detail": None},
    ]
    verdict = {
        "passed": False,
        "score": 0.5,
        "reasons": [AssertionFailure(name="Zeta", type="contains").model_dump(mode="json")],
        "judgements": [],
        "output_checks": None,
    }
    stored = render({**own, "metrics": [], **NO_VERDICT})["document"]
    if evaluated:  # evaluated before: the splice replaces an earlier evaluation
        earlier = [{"name": "old", "value": 1.0, "passed": True, "detail": None}]
        stored = render({**own, "metrics": earlier, **verdict, "score": 1.0})["document"]
    part = render_evaluated(metrics, verdict)
    head = stored[: stored.index(EVALUATED_AT) + 1]
    spliced = head + part["evaluated"] + stored[stored.index(AFTER_EVALUATED) :]
    whole = render({**own, "metrics": metrics, **verdict})
    assert spliced == whole["document"]
    assert part["failed_checks"] == whole["failed_checks"] == ["Zeta"]


def test_documents_written_by_orjson_are_what_pydantic_writes() -> None:
    """``result_json`` (orjson, from the values as they are) against the models validated and
    serialised (``_model_json``, ``_model_document``: as before) on edge values: floats of
    every magnitude and bit pattern and non-finite ones, strings with quotes, escapes, control
    characters and non-ASCII text, times with and without microseconds, every reason field.
    What it declines (judgements, output checks, an int for a float, keys in another order, a
    lone surrogate) the models write."""
    import random

    from promptworks_contracts.values import AssertionFailure
    from query_api.projections.result_documents import _model_document, _model_json
    from query_api.projections.result_json import document_json, evaluated_json
    from query_api.schemas.runs import money_out

    chosen = random.Random(7)
    floats = [0.0, -0.0, 1.0, 0.1 + 0.2, 1e-300, 5e-324, 1e16, 1e22, 123456789.125, -2.5e-7]
    floats += [math.inf, -math.inf, math.nan, 1.7976931348623157e308, 115.0, 12.5]
    floats += [chosen.uniform(-1e6, 1e6) for _ in range(200)]
    floats += [struct.unpack("d", chosen.randbytes(8))[0] for _ in range(400)]
    texts = ['says "no"', "a\\b", "tab\there\nnew\rline", "\x00\x01\x1f\x7f", "准确 ✓ 🙂"]
    texts += ["\u2028\u2029", "</script>", "", "a" * 300]
    # Amounts as a run's cost is stored (numeric(24, 12)) in every spelling a sum can take.
    amounts = ["0", "0E-12", "0.000000000000", "0.001250000000", "1E+2", "100.000000000000"]
    amounts += ["123456789012.123456789012", "0.000000000001", "7.5"]
    costs = [None, *(money_out(Decimal(a), c) for a in amounts for c in ("USD", "CNY"))]
    for index, value in enumerate(floats):
        text = texts[index % len(texts)]
        metrics = [
            {"name": text or "n", "value": value, "passed": None, "detail": text},
            {"name": "ok", "value": None, "passed": index % 2 == 0, "detail": None},
        ]
        reasons = [
            AssertionFailure(
                name=text[:200], type="bleu", detail=text, value=value, threshold=0.5
            ).model_dump(mode="json"),
            AssertionFailure(name="plain", type="contains").model_dump(mode="json"),
        ]
        evaluated = {
            "metrics": metrics,
            "passed": [None, True, False][index % 3],
            "score": [None, value, 0.5][index % 3],
            "reasons": reasons[: index % 3],
            "judgements": [],
            "output_checks": None,
        }
        part = evaluated_json(evaluated)
        assert part is not None and part == _model_json(evaluated), (value, text)
        row = {
            "result_id": uuid.uuid4(),
            "run_id": uuid.uuid4(),
            "case_index": index,
            "repetition": index % 7 + 1,
            "output": [text, None][index % 2],
            "latency_ms": abs(value) if math.isfinite(value) else 0.5,
            "prompt_tokens": index * 3,
            "completion_tokens": 2**40 + index,
            "total_tokens": 2**40 + index * 4,
            "finish_reason": ["stop", None][index % 2],
            "error": [None, text][index % 2],
            "cached": index % 5 == 0,
        }
        at = datetime(2026, 11, 30, 4, 5, 6, [0, 120000, 1, 999999][index % 4], tzinfo=UTC)
        cost = costs[index % len(costs)]
        document = document_json(row, at, cost, evaluated)
        assert document is not None
        assert document == _model_document(row, at, cost, evaluated), (value, text, cost)
    plain = {"metrics": [], "passed": None, "score": None, "reasons": [], "judgements": []}
    reason = AssertionFailure(name="n", type="t").model_dump(mode="json")
    for declined in (
        {**plain, "output_checks": {"is_valid_json": True}},
        {**plain, "judgements": [{"judge": "x"}], "output_checks": None},
        {**plain, "metrics": [{"name": "n", "value": 1, "passed": None, "detail": None}]},
        {**plain, "metrics": [{"value": 1.0, "name": "n", "passed": None, "detail": None}]},
        {**plain, "score": 1, "output_checks": None},
        {**plain, "reasons": [dict(reversed(reason.items()))], "output_checks": None},
        {**plain, "reasons": [{**reason, "weight": 1}], "output_checks": None},
        {**plain, "metrics": [{"name": "\ud800", "value": None, "passed": None, "detail": None}]},
    ):
        assert evaluated_json({"output_checks": None, **declined}) is None
    assert (
        document_json({**row, "latency_ms": 3}, at, None, {**plain, "output_checks": None}) is None
    )


def test_a_result_read_back_is_written_by_orjson_byte_for_byte() -> None:
    """Metrics and a verdict as PostgreSQL gives them back (an integral float as an int, a
    reason's keys in JSONB's order, the score as an int): ``as_written`` makes them what the
    evaluation wrote, so orjson writes the document (it declined them before), and the bytes
    are those of the models given the values as written."""
    from promptworks_contracts.values import AssertionFailure
    from query_api.projections.result_documents import (
        _evaluated_fields,
        _model_document,
        as_written,
        render,
    )
    from query_api.projections.result_json import document_json

    own = result_row()
    written = [
        {"name": "chars", "value": 42.0, "passed": None, "detail": None},
        {"name": "contains", "value": 0.0, "passed": False, "detail": "x"},
        {"name": "latency_ms", "value": 12.5, "passed": None, "detail": None},
    ]
    reason = AssertionFailure(name="contains", type="contains", value=0.0, threshold=1.0)
    verdict = {
        "passed": False,
        "score": 1.0,
        "reasons": [reason.model_dump(mode="json")],
        "judgements": [],
        "output_checks": None,
    }
    read_back = [{**m, "value": 42 if m["name"] == "chars" else m["value"]} for m in written]
    read_back[1]["value"] = 0
    # JSONB keeps an object's keys shortest first, then bytewise.
    as_dumped = verdict["reasons"][0]
    jsonb_order = {k: as_dumped[k] for k in sorted(as_dumped, key=lambda k: (len(k), k))}
    assert tuple(jsonb_order) != tuple(as_dumped)
    stored = {**verdict, "score": 1, "reasons": [jsonb_order]}

    metrics, made = as_written(read_back, stored)
    assert metrics == written and made["reasons"] == verdict["reasons"] and made["score"] == 1.0
    fields = _evaluated_fields(metrics, made)
    fields.pop("failed_checks")
    at = own["created_at"]
    assert document_json(own, at, None, fields) is not None  # orjson writes it
    models = _evaluated_fields(written, verdict)
    models.pop("failed_checks")
    document = render({**own, "metrics": read_back, **stored})["document"]
    assert document == _model_document(own, at, None, models)
