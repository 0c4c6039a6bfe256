"""The write port (``port``) and its implementations: PostgreSQL (``postgres``, the one services
run on) and in memory (``memory``, for handler and domain tests without infrastructure). One
contract test suite (``libs/eventkit/tests/test_write_port_contract.py``) runs against both.

This package imports no implementation: ``port`` and ``memory`` are framework-free, and only the
composition roots import ``postgres``.
"""
