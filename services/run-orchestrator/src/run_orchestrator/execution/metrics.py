"""Prometheus metrics of the model calls (one series per provider and model).

- ``promptworks_provider_calls_total{provider,model,outcome}``: every attempt sent to a
  provider; outcome ``ok``, ``rate_limited`` (429), ``timeout`` or ``error``;
- ``promptworks_provider_call_duration_seconds{provider,model}``: each attempt's duration;
- ``promptworks_provider_tokens_total{provider,model,direction}``: ``prompt``/``completion``;
- ``promptworks_provider_retries_total{provider,model,reason}``: ``rate_limited``,
  ``server``, ``timeout``, ``connection``, ``circuit_open``;
- ``promptworks_provider_cost_total{provider,model,currency}``: what the successful calls
  cost at the run's snapshotted price (runs without a price add nothing);
- ``promptworks_runs_in_flight``: runs this process executes now.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MAX_LABEL_CHARS = 100

PROVIDER_CALLS = Counter(
    "promptworks_provider_calls",
    "Attempts sent to a model provider, by outcome",
    ["provider", "model", "outcome"],
)
PROVIDER_CALL_DURATION = Histogram(
    "promptworks_provider_call_duration_seconds",
    "Duration of each attempt sent to a model provider",
    ["provider", "model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60, 120),
)
PROVIDER_TOKENS = Counter(
    "promptworks_provider_tokens",
    "Tokens reported by model providers",
    ["provider", "model", "direction"],
)
PROVIDER_RETRIES = Counter(
    "promptworks_provider_retries",
    "Retries of model calls, by reason",
    ["provider", "model", "reason"],
)
PROVIDER_COST = Counter(
    "promptworks_provider_cost",
    "What model calls cost at their run's price, by currency",
    ["provider", "model", "currency"],
)
RUNS_IN_FLIGHT = Gauge(
    "promptworks_runs_in_flight", "Runs this process is executing", multiprocess_mode="livesum"
)


def label(value: str) -> str:
    """Model names come from requests: bounded so one cannot bloat the scrape."""
    return value[:MAX_LABEL_CHARS]
