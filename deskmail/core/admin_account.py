"""The first admin account of a fresh installation."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model


def ensure_first_admin(username: str = "admin") -> tuple[str, str] | None:
    """Create an admin when there is none; return (username, password) only when created."""
    users = get_user_model()
    if users.objects.filter(is_superuser=True).exists():
        return None
    password = secrets.token_urlsafe(12)
    users.objects.create_superuser(username=username, email="", password=password)
    return username, password
