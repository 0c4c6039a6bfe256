"""Executes runs: one background scheduler, one task per run, results recorded in batches."""
