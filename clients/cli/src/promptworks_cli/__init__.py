"""``promptworks``: the PromptWorks command line (a client of query-api's public API only)."""
