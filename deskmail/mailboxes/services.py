"""Lookups other parts of deskmail use to find a mailbox."""

from __future__ import annotations

from email.utils import parseaddr

from deskmail.mailboxes.models import Mailbox, MailboxAddress


def normalise_address(address: str) -> str:
    """`Support <Support@Example.com>` and `support@example.com ` both give the bare address."""
    _, bare = parseaddr(address.strip())
    return (bare or address).strip().lower()


def mailbox_for_address(address: str) -> tuple[Mailbox, bool] | None:
    """The mailbox that receives for `address`, and whether it is one of its aliases."""
    bare = normalise_address(address)
    if not bare:
        return None
    row = MailboxAddress.objects.select_related("mailbox").filter(address=bare).first()
    if row is None:
        return None
    return row.mailbox, row.is_alias
