"""The public HTTP API's shared shapes.

- ``problem``: the error body of every 4xx and 5xx of every service (RFC 9457).
"""
