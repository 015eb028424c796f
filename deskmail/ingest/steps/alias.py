"""Map the address the mail was delivered to (an alias or another mailbox) to its mailbox."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.mailboxes.models import Mailbox, MailboxAddress

name = "alias"


def _addresses(ctx: Context) -> dict[str, tuple[Mailbox, bool]]:
    """Every MailboxAddress row: address -> (mailbox, is_alias), cached for a batch."""
    cached = ctx.cache.get("mailbox_addresses")
    if cached is None:
        cached = {
            row.address.lower(): (row.mailbox, row.is_alias)
            for row in MailboxAddress.objects.select_related("mailbox")
        }
        ctx.cache["mailbox_addresses"] = cached
    return cached


def run(ctx: Context) -> Decision:
    rows = _addresses(ctx)
    if ctx.delivered_to:
        address = ctx.delivered_to.strip().strip("<>").lower()
        if address in rows:
            mailbox, is_alias = rows[address]
            ctx.address = address
            if mailbox.pk != ctx.mailbox.pk:
                ctx.mailbox = mailbox
                return Decision(
                    name, "hit", f"delivered to {address}: filed under mailbox {mailbox.name}"
                )
            kind = "alias" if is_alias else "address"
            return Decision(name, "hit", f"delivered to {address}, this mailbox's {kind}")
    own = {a.lower() for a in ctx.settings.own_addresses()}
    own.update(a for a, (mailbox, _) in rows.items() if mailbox.pk == ctx.mailbox.pk)
    for recipient in [*ctx.parsed.to, *ctx.parsed.cc]:
        if recipient.address in own:
            ctx.address = recipient.address
            return Decision(name, "hit", f"addressed to {recipient.address}")
    ctx.address = ctx.settings.address
    return Decision(
        name, "miss", f"none of our addresses in To/Cc (Bcc or forwarded); using {ctx.address}"
    )
