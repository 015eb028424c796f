"""Encryption at rest for credentials and tokens (MultiFernet, keys from settings).

`DESKMAIL_ENCRYPTION_KEYS` holds comma-separated Fernet keys, newest first:
the first encrypts, every key decrypts, so keys rotate by prepending a new one
and running `deskmail rotate_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models, transaction
from django.db.models.query_utils import DeferredAttribute

from deskmail.core.errors import DecryptionError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

# cryptography loads with the first secret encrypted or read, not with the models that
# declare encrypted columns (every command imports those).

__all__ = ["DecryptionError", "EncryptedTextField", "Secret", "decrypt", "encrypt", "rotate_all"]


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    from cryptography.fernet import Fernet, MultiFernet

    if not keys:
        raise ImproperlyConfigured("DESKMAIL_ENCRYPTION_KEYS: no key configured")
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
    from cryptography.fernet import InvalidToken

    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "a stored secret cannot be decrypted: was DESKMAIL_ENCRYPTION_KEYS changed "
            "without keeping the old key?"
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt with the newest key."""
    from cryptography.fernet import InvalidToken

    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("a stored secret cannot be decrypted with any key") from exc


class Secret(str):
    """A decrypted secret whose repr never shows the value (keeps it out of logs)."""

    def __repr__(self) -> str:
        return "Secret('********')"


class UnreadableSecret(Secret):
    """A stored secret no configured key decrypts: empty, and saying so when asked.

    Reading a row must not fail because of one secret: the mailbox can still
    be listed, exported and fixed. Whoever needs the value checks `unreadable`.
    """

    unreadable = True

    def __new__(cls) -> UnreadableSecret:
        return super().__new__(cls, "")

    def __repr__(self) -> str:
        return "UnreadableSecret()"


def is_unreadable(value: object) -> bool:
    return isinstance(value, UnreadableSecret)


UNREADABLE_ADVICE = (
    "cannot be decrypted with DESKMAIL_ENCRYPTION_KEYS: set it to the key the secrets were "
    "encrypted with (a new key may come first, the old one after it, comma-separated) and "
    "run `deskmail rotate_keys`; or enter the secret again"
)


class _SecretAttribute(DeferredAttribute):
    """Wraps every value assigned to the field in `Secret`, so its repr is hidden at once."""

    def __set__(self, instance: models.Model, value: Any) -> None:
        if isinstance(value, str) and value and not isinstance(value, Secret):
            value = Secret(value)
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.TextField[str, str]):
    """A text column holding a Fernet token; Python code sees the plaintext as `Secret`.

    An empty string stays empty (no secret), so `blank=True, default=""` means "none set".
    """

    descriptor_class = _SecretAttribute

    def from_db_value(
        self, value: str | None, expression: object, connection: object
    ) -> str | None:
        if value is None or value == "":
            return value
        return Secret(decrypt(value))

    def get_prep_value(self, value: object) -> object:
        if value is None or value == "":
            return value
        if is_unreadable(value):
            raise DecryptionError(f"a stored secret {UNREADABLE_ADVICE}")
        return encrypt(str(value))


@dataclass(frozen=True)
class RotationResult:
    rows: int
    secrets: int


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    """Every installed model that has encrypted columns, with those columns' names."""
    found = []
    for model in apps.get_models():
        names = [
            field.name
            for field in model._meta.concrete_fields
            if isinstance(field, EncryptedTextField)
        ]
        if names:
            found.append((model, names))
    return found


def rotate_all() -> RotationResult:
    """Re-encrypt every stored secret of every model with the newest key, in one transaction.

    The raw tokens are read and rewritten with queryset updates, so `save()` side
    effects (such as `auto_now` timestamps) do not fire. A token no key can decrypt
    stops the rotation and nothing is changed.
    """
    rows = secrets = 0
    with transaction.atomic():
        for model, names in encrypted_fields():
            columns = [_column(model, name) for name in names]
            table = model._meta.db_table
            pk = model._meta.pk
            assert pk is not None and pk.column is not None
            pk_column = pk.column
            for pk, *tokens in _raw_rows(table, pk_column, columns):
                fresh = {}
                for name, column, token in zip(names, columns, tokens, strict=True):
                    if not token:
                        continue
                    try:
                        fresh[column] = rotate(token)
                    except DecryptionError as exc:
                        raise DecryptionError(
                            f"{model._meta.label} id={pk} {name}: cannot be decrypted with "
                            "any key in DESKMAIL_ENCRYPTION_KEYS; nothing was rotated"
                        ) from exc
                if fresh:
                    _write_raw(table, pk_column, pk, fresh)
                    rows += 1
                    secrets += len(fresh)
    return RotationResult(rows=rows, secrets=secrets)


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field) and field.column is not None
    return field.column


def _raw_rows(table: str, pk_column: str, columns: list[str]) -> list[tuple[Any, ...]]:
    quote = connection.ops.quote_name
    selected = ", ".join(quote(column) for column in [pk_column, *columns])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {selected} FROM {quote(table)} ORDER BY {quote(pk_column)}"  # noqa: S608
        )
        return list(cursor.fetchall())


def _write_raw(table: str, pk_column: str, pk: Any, values: dict[str, str]) -> None:
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(column)} = %s" for column in values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(table)} SET {assignments} WHERE {quote(pk_column)} = %s",  # noqa: S608
            [*values.values(), pk],
        )


def unreadable_secrets() -> list[str]:
    """Every stored secret no configured key decrypts, named for an operator."""
    found = []
    for model, names in encrypted_fields():
        columns = [_column(model, name) for name in names]
        table = model._meta.db_table
        pk = model._meta.pk
        assert pk is not None and pk.column is not None
        for row_pk, *tokens in _raw_rows(table, pk.column, columns):
            for name, token in zip(names, tokens, strict=True):
                if not token:
                    continue
                try:
                    decrypt(token)
                except DecryptionError:
                    row = model._default_manager.filter(pk=row_pk).only("pk").first()
                    label = str(getattr(row, "name", None) or row_pk)
                    found.append(f"{model._meta.verbose_name} {label}: {name}")
    return found
