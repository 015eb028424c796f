"""Encryption at rest for credentials and tokens (MultiFernet, keys from settings).

`DESKMAIL_ENCRYPTION_KEYS` holds comma-separated Fernet keys, newest first:
the first encrypts, every key decrypts, so keys rotate by prepending a new one
and running `deskmail rotate_keys`.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "DESKMAIL_ENCRYPTION_KEYS: each key must be 32 url-safe base64-encoded bytes"
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "a stored secret cannot be decrypted: was DESKMAIL_ENCRYPTION_KEYS changed "
            "without keeping the old key?"
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt with the newest key."""
    return fernet().rotate(token.encode()).decode()


class Secret(str):
    """A decrypted secret whose repr never shows the value (keeps it out of logs)."""

    def __repr__(self) -> str:
        return "Secret('********')"


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; Python code sees the plaintext as `Secret`."""

    def from_db_value(self, value, expression, connection):  # noqa: ANN001
        if value is None or value == "":
            return value
        return Secret(decrypt(value))

    def get_prep_value(self, value):  # noqa: ANN001
        if value is None or value == "":
            return value
        return encrypt(str(value))
