"""Typed readers for environment settings that fail loudly and say which variable is wrong."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Callable
from pathlib import Path


class SettingError(Exception):
    """An environment variable holds a value deskmail cannot use."""


def env_str(name: str, default: str = "") -> str:
    """The variable's value; `NAME_FILE` may point at a file holding it (for secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise SettingError(f"{name}_FILE={file_name}: cannot read it ({exc.strerror})") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingError(f"{name}={raw!r}: expected true or false")


def env_number(name: str, default: float, *, minimum: float = 0) -> float:
    raw = env_str(name)
    if not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r}: expected a number") from None
    if value < minimum:
        raise SettingError(f"{name}={raw!r}: expected at least {minimum:g}")
    return value


def env_list(name: str) -> list[str]:
    return [item.strip() for item in env_str(name).split(",") if item.strip()]


def persisted_secret(path: Path, make: Callable[[], str]) -> str:
    """Read a generated secret from the data folder, creating it (mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def new_secret_key() -> str:
    return secrets.token_urlsafe(50)


def new_fernet_key() -> str:
    # What Fernet.generate_key() makes, without loading cryptography into every command.
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _is_fernet_key(key: str) -> bool:
    """Fernet's own test of a key: 32 bytes, url-safe base64-encoded."""
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (binascii.Error, ValueError):
        return False


def fernet_keys(name: str, keys: list[str]) -> list[str]:
    """The keys, each checked to be a Fernet key (32 url-safe base64-encoded bytes)."""
    for position, key in enumerate(keys, 1):
        if not _is_fernet_key(key):
            raise SettingError(
                f"{name}: key {position} of {len(keys)} is not a Fernet key (32 url-safe "
                'base64-encoded bytes; make one with: python -c "from cryptography.fernet '
                'import Fernet; print(Fernet.generate_key().decode())")'
            )
    return keys
