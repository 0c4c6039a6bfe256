"""Credentials encrypted at rest with the operator's key (Fernet: AES-128-CBC + HMAC-SHA256,
from the ``cryptography`` package). Rotating the key means re-registering the credentials."""

from __future__ import annotations

from cryptography.fernet import Fernet


class FernetBox:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())  # raises ValueError on a malformed key

    def encrypt(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def decrypt(self, sealed: bytes) -> str:
        return self._fernet.decrypt(sealed).decode()
