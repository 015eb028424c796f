"""`deskmail reply TICKET --body-file F`: queue an agent's reply; the worker sends it."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deskmail.cli.common import actor, service_errors
from deskmail.outbound.compose import OutgoingAttachment
from deskmail.services import access, actions
from deskmail.tickets.models import Ticket


class Command(BaseCommand):
    # Starts quickly: Django's system checks (URLs, admin, templates) are the server's.
    requires_system_checks = []
    help = (
        "Queue a reply to a ticket. To is the ticket's contact and Cc the latest other "
        "sender and the customer's Cc, unless --to / --cc name the recipients instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ticket", type=int, help="the ticket number")
        parser.add_argument(
            "--body-file",
            required=True,
            type=Path,
            help="the reply: plain text, or HTML when the file ends in .html/.htm",
        )
        parser.add_argument("--attach", action="append", default=[], type=Path, metavar="FILE")
        parser.add_argument(
            "--to", action="append", metavar="ADDR", help="replaces the suggested To (repeat)"
        )
        parser.add_argument(
            "--cc", action="append", metavar="ADDR", help="replaces the suggested Cc (repeat)"
        )
        parser.add_argument("--no-cc", action="store_true", help="send without any Cc")
        parser.add_argument(
            "--note", action="store_true", help="a public comment (the case response template)"
        )
        parser.add_argument("--mailbox", help="send from this mailbox (by name)")
        parser.add_argument(
            "--as",
            dest="as_",
            metavar="EMAIL",
            help="reply as this person (their name signs it; their mailboxes only)",
        )
        parser.add_argument(
            "--status", choices=[s.value for s in Ticket.Status], help="also move the ticket"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        who = actor(options["as_"])
        body_file: Path = options["body_file"]
        try:
            body = body_file.read_text(encoding="utf-8")
            files = [_attachment(path) for path in options["attach"]]
        except OSError as exc:
            raise CommandError(f"cannot read {exc.filename}: {exc.strerror}") from exc
        html = body_file.suffix.lower() in (".html", ".htm")
        cc = [] if options["no_cc"] else options["cc"]
        with service_errors():
            ticket = access.ticket(who, options["ticket"])
            item = actions.reply(
                who,
                ticket,
                body_text=None if html else body,
                body_html=body if html else None,
                to=options["to"],
                cc=cc,
                attachments=files,
                mailbox=options["mailbox"],
                public_note=options["note"],
                status=options["status"],
            )
        message = item.outgoing
        assert message is not None
        cc_text = f", Cc {', '.join(message.cc)}" if message.cc else ""
        self.stdout.write(
            f"Queued outbox #{item.pk} for ticket #{ticket.number}: To {', '.join(message.to)}"
            f"{cc_text}; Message-ID <{item.message_id}>"
        )


def _attachment(path: Path) -> OutgoingAttachment:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return OutgoingAttachment(path.name, content_type, path.read_bytes())
