"""Map the address the mail was delivered to (an alias or another mailbox) to its mailbox."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.mailboxes.models import MailboxAddress

name = "alias"


def run(ctx: Context) -> Decision:
    if ctx.delivered_to:
        address = ctx.delivered_to.strip().strip("<>").lower()
        row = MailboxAddress.objects.filter(address=address).select_related("mailbox").first()
        if row is not None:
            ctx.address = address
            if row.mailbox_id != ctx.mailbox.pk:
                ctx.mailbox = row.mailbox
                return Decision(
                    name, "hit", f"delivered to {address}: filed under mailbox {row.mailbox.name}"
                )
            kind = "alias" if row.is_alias else "address"
            return Decision(name, "hit", f"delivered to {address}, this mailbox's {kind}")
    own = {a.lower() for a in ctx.settings.own_addresses()}
    own.update(MailboxAddress.objects.filter(mailbox=ctx.mailbox).values_list("address", flat=True))
    for recipient in [*ctx.parsed.to, *ctx.parsed.cc]:
        if recipient.address in own:
            ctx.address = recipient.address
            return Decision(name, "hit", f"addressed to {recipient.address}")
    ctx.address = ctx.settings.address
    return Decision(
        name, "miss", f"none of our addresses in To/Cc (Bcc or forwarded); using {ctx.address}"
    )
