"""Persistence of the evaluator: its tables (``tables``, also alembic's metadata) and the
``EvaluationRepository`` on PostgreSQL (``postgres``) and in memory (``memory``)."""
