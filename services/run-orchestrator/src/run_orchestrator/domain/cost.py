"""Money: what a call cost, what a run will cost, and when its budget is spent.

Prices are per million tokens and exact (Decimal); amounts keep 12 decimal places, enough for
a single token of the cheapest model. The estimate is deliberately an upper-ish bound: prompt
tokens from the rendered characters (about four per token, the providers' rule of thumb) and
output tokens at ``max_tokens``, or ``DEFAULT_OUTPUT_TOKENS`` when the run sets no maximum.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from promptworks_contracts.values import ModelPricing, Money, TokenUsage

MILLION = Decimal(1_000_000)
QUANTUM = Decimal("0.000000000001")
CHARS_PER_TOKEN = 4
DEFAULT_OUTPUT_TOKENS = 256


def _money(amount: Decimal, currency: str) -> Money:
    return Money(amount=amount.quantize(QUANTUM, rounding=ROUND_HALF_UP), currency=currency)


def call_cost(usage: TokenUsage, pricing: ModelPricing | None) -> Money | None:
    """A call's cost from its token usage; None when the model's price is unknown."""
    if pricing is None:
        return None
    return _priced(usage.prompt_tokens, usage.completion_tokens, pricing)


@lru_cache(maxsize=4096)
def _priced(prompt_tokens: int, completion_tokens: int, pricing: ModelPricing) -> Money:
    """Cached: a run's calls repeat a few usages at one price, and a validated Money costs
    ~5 µs (both are immutable)."""
    amount = (
        prompt_tokens * pricing.input_per_million + completion_tokens * pricing.output_per_million
    ) / MILLION
    return _money(amount, pricing.currency)


def estimate_cost(
    prompt_chars: int,
    calls_per_case: int,
    max_tokens: int | None,
    cases: int,
    pricing: ModelPricing | None,
) -> Money | None:
    """The run's estimated cost: ``prompt_chars`` is the rendered size of every case summed."""
    if pricing is None:
        return None
    prompt_tokens = -(-prompt_chars // CHARS_PER_TOKEN) * calls_per_case
    output_tokens = (max_tokens or DEFAULT_OUTPUT_TOKENS) * cases * calls_per_case
    amount = (
        prompt_tokens * pricing.input_per_million + output_tokens * pricing.output_per_million
    ) / MILLION
    return _money(amount, pricing.currency)


def add(total: Money | None, cost: Money | None) -> Money | None:
    """Running total; unknown (None) stays unknown once any call's price was unknown."""
    if total is None or cost is None:
        return None
    if not cost.amount:  # a free call (the mock, a cached answer): the total as it is
        return total
    return _money(total.amount + cost.amount, total.currency)


def budget_reached(spent: Money | None, budget: Money | None) -> bool:
    return budget is not None and spent is not None and spent.amount >= budget.amount


def scaled(estimate: Money | None, calls: int, of_calls: int) -> Money | None:
    """An estimate for ``calls`` of a run estimated for ``of_calls`` (a retry's share)."""
    if estimate is None:
        return None
    return _money(estimate.amount * calls / of_calls, estimate.currency)
