"""The page cache's counters, on each worker's ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter

PAGE_CACHE_ANSWERS = Counter(
    "promptworks_page_cache_answers_total",
    "Hot pages answered, by where from: `cache`, or `postgres` (then kept for the next "
    "request, or not: the project changed meanwhile, or the cache was deaf)",
    ["source"],
)
FROM_CACHE = PAGE_CACHE_ANSWERS.labels("cache")
FROM_POSTGRES = PAGE_CACHE_ANSWERS.labels("postgres")
