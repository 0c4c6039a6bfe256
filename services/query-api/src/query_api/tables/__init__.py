"""query-api's read models: denormalised tables shaped for the public REST API.

Every row is derived from events only, so dropping these tables and replaying the topics
rebuilds them identically (the consumer's checkpoints are wiped with them).
"""

from __future__ import annotations

from query_api.tables._base import metadata
from query_api.tables.evaluators import (
    ADVICE_READ_MODEL_TABLES,
    EVALUATOR_READ_MODEL_TABLES,
    advice,
    evaluation_metrics,
    evaluation_verdicts,
    evaluations,
    evaluator_versions,
    evaluators,
)
from query_api.tables.prompts import (
    PROMPT_READ_MODEL_TABLES,
    prompt_classes,
    prompt_counts,
    prompt_documents,
    prompt_history,
    prompt_labels,
    prompt_tags,
    prompt_tokens,
    prompt_versions,
    prompt_words,
    prompts,
)
from query_api.tables.quick_tests import QUICK_TEST_READ_MODEL_TABLES, quick_tests
from query_api.tables.runs import (
    FINISHED_STATUSES,
    RUN_READ_MODEL_TABLES,
    RUN_STATUSES,
    batches,
    metrics,
    result_positions,
    result_verdicts,
    results,
    run_counts,
    run_evaluations,
    runs,
)

READ_MODEL_TABLES = (
    *PROMPT_READ_MODEL_TABLES,
    *RUN_READ_MODEL_TABLES,
    *EVALUATOR_READ_MODEL_TABLES,
    *ADVICE_READ_MODEL_TABLES,
    *QUICK_TEST_READ_MODEL_TABLES,
)
"""Everything a rebuild wipes (together with this consumer's checkpoints)."""

__all__ = [
    "ADVICE_READ_MODEL_TABLES",
    "EVALUATOR_READ_MODEL_TABLES",
    "FINISHED_STATUSES",
    "PROMPT_READ_MODEL_TABLES",
    "QUICK_TEST_READ_MODEL_TABLES",
    "READ_MODEL_TABLES",
    "RUN_READ_MODEL_TABLES",
    "RUN_STATUSES",
    "advice",
    "batches",
    "evaluation_metrics",
    "evaluation_verdicts",
    "evaluations",
    "evaluator_versions",
    "evaluators",
    "metadata",
    "metrics",
    "prompt_classes",
    "prompt_counts",
    "prompt_documents",
    "prompt_history",
    "prompt_labels",
    "prompt_tags",
    "prompt_tokens",
    "prompt_versions",
    "prompt_words",
    "prompts",
    "quick_tests",
    "result_positions",
    "result_verdicts",
    "results",
    "run_counts",
    "run_evaluations",
    "runs",
]
