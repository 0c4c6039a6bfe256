"""The public HTTP API's shared shapes: what clients send and the one error answer.

Request models that query-api forwards live here, so the command service that validates a
body and query-api that documents (and forwards) it describe the same shape without importing
each other. Pydantic only, like the rest of the contracts.

- ``problem``: the error body of every 4xx and 5xx of every service (RFC 9457).
- ``prompts``: prompts, versions, labels, rollback, archive and restore.
- ``taxonomy``: prompt classes and tags.
- ``runs``: runs (``POST /runs``, query-api's ``POST /test_prompt``) and batches.
- ``providers``: the provider catalog.
"""
