"""The evaluator's handlers: the "evaluator.runs" consumer (``evaluation``) and the run summary
query (``summaries``), written against the ``EvaluationRepository`` protocol (``ports``) and the
write port's ``Transaction``, free of any framework."""
