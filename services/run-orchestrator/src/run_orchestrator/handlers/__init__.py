"""Command and event handlers: everything they write goes through the write port's
``Transaction[RunRepository]`` (``ports``); they import no web, database or Kafka framework."""
