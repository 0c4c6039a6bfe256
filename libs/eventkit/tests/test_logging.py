"""The libraries' own log lines (standard ``logging``: aiokafka, asyncio, uvicorn) are JSON
lines like the service's own: with a timestamp, the level, the service and the logger's name.

(uvicorn's loggers are not used here: a test elsewhere may start uvicorn with its default log
configuration, which stops them propagating to the root; the services start it without one.)"""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from promptworks_eventkit.logging import configure_logging


def test_a_library_line_is_a_json_line_with_its_time_level_service_and_logger(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("tests")
    logging.getLogger("aiokafka.client").warning("Unable connect to node with id %s", 1)
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        logging.getLogger("asyncio").exception("task failed")
    logging.getLogger("aiokafka.conn").info("below aiokafka's level: not written")
    structlog.get_logger("tests").info("own line", answer=42)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert [line["event"] for line in lines] == [
        "Unable connect to node with id 1",
        "task failed",
        "own line",
    ]
    library, failure, own = lines
    assert library["logger"] == "aiokafka.client" and library["level"] == "warning"
    assert library["service"] == "tests" and library["timestamp"].endswith("Z")
    assert failure["level"] == "error" and "ZeroDivisionError" in failure["exception"]
    assert own["answer"] == 42 and own["service"] == "tests" and "timestamp" in own
