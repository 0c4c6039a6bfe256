"""Runs the four PromptWorks services as local processes: for `make dev`, e2e tests and bench."""
