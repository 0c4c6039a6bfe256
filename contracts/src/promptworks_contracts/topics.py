"""Kafka topic names. One topic per aggregate type; the Kafka key is always the aggregate id."""

from typing import Final

PROMPT_EVENTS: Final = "promptworks.prompt"
RUN_EVENTS: Final = "promptworks.run"
EVALUATION_EVENTS: Final = "promptworks.evaluation"

ALL_EVENT_TOPICS: Final = (PROMPT_EVENTS, RUN_EVENTS, EVALUATION_EVENTS)

DLQ_SUFFIX: Final = ".dlq"


def dlq_topic(topic: str) -> str:
    """The dead-letter topic that holds the poison events of ``topic``."""
    return f"{topic}{DLQ_SUFFIX}"
