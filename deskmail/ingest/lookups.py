"""Small cached lookups the steps share: our own addresses."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.mailboxes.models import Mailbox, MailboxAddress


def own_addresses(ctx: Context) -> frozenset[str]:
    """Every address of every mailbox (addresses and aliases): never a participant."""
    cached = ctx.cache.get("own_addresses")
    if cached is None:
        found = set(MailboxAddress.objects.values_list("address", flat=True))
        for mailbox in Mailbox.objects.all():
            found.add(mailbox.address.lower())
            found.update(mailbox.settings.own_addresses())
        found.update(ctx.settings.own_addresses())
        cached = frozenset(a.lower() for a in found)
        ctx.cache["own_addresses"] = cached
    return cached
