"""`deskmail rotate_keys`: re-encrypt every stored secret with the newest key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from deskmail.core.crypto import DecryptionError, rotate_all


class Command(BaseCommand):
    # Starts quickly: Django's system checks (URLs, admin, templates) are the server's.
    requires_system_checks = []
    help = (
        "Re-encrypt every stored secret with the first key of DESKMAIL_ENCRYPTION_KEYS. "
        "Put a new key first, keep the old ones after it, run this, then drop the old keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = rotate_all()
        except DecryptionError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"re-encrypted {result.secrets} secret{'s' if result.secrets != 1 else ''} "
            f"in {result.rows} row{'s' if result.rows != 1 else ''} with the newest key"
        )
