"""Map the address the mail was delivered to (an alias or another mailbox) to its mailbox."""

from __future__ import annotations

from deskmail.ingest.context import Context
from deskmail.ingest.trace import Decision
from deskmail.ingest.types import Verdict

name = "alias"


def run(ctx: Context) -> Decision:
    directory = ctx.store.directory()
    if ctx.delivered_to:
        found = directory.lookup(ctx.delivered_to)
        if found is not None:
            mailbox, is_alias = found
            ctx.address = address = ctx.delivered_to.strip().strip("<>").lower()
            if mailbox.pk != ctx.mailbox.pk:
                ctx.mailbox = mailbox
                return Decision(
                    name, Verdict.HIT, f"delivered to {address}: filed under mailbox {mailbox.name}"
                )
            kind = "alias" if is_alias else "address"
            return Decision(name, Verdict.HIT, f"delivered to {address}, this mailbox's {kind}")
    own = ctx.settings.own_addresses()
    for recipient in [*ctx.parsed.to, *ctx.parsed.cc]:
        entry = directory.addresses.get(recipient.address)
        if recipient.address in own or (entry is not None and entry[0] == ctx.mailbox.pk):
            ctx.address = recipient.address
            return Decision(name, Verdict.HIT, f"addressed to {recipient.address}")
    ctx.address = ctx.settings.address
    return Decision(
        name,
        Verdict.MISS,
        f"none of our addresses in To/Cc (Bcc or forwarded); using {ctx.address}",
    )
