"""Command handlers: load the aggregates, decide, append, all in one transaction per command."""
