"""How long to wait before retrying a call: exponential backoff with full jitter, at least the
provider's Retry-After.

Full jitter (a uniform draw in [0, min(cap, base * 2^(retry-1))]) spreads the retries of many
concurrent calls that failed together, instead of sending them back in lock-step.
"""

from __future__ import annotations

import random


def backoff_seconds(
    retry: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    draw: random.Random | None = None,
) -> float:
    """The wait before retry number ``retry`` (1 for the first retry)."""
    ceiling = min(cap, base * 2 ** (retry - 1))
    jittered = (draw or random).uniform(0.0, ceiling)
    if retry_after is None:
        return jittered
    # The provider said when to come back: not earlier, and never longer than the cap.
    return min(cap, max(jittered, retry_after))
