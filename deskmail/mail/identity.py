"""A stable Message-ID for mail that has none, so that a re-delivery is still a duplicate."""

from __future__ import annotations

SYNTHETIC_DOMAIN = "deskmail.invalid"


def synthetic_message_id(sha256: str) -> str:
    """The same bytes always get the same ID (without angle brackets)."""
    return f"sha256-{sha256}@{SYNTHETIC_DOMAIN}"
