"""A ticket's thread as a zip of numbered .eml files, with or without attachments.

Each message is the mail as it arrived (or as we sent it), byte for byte, from
the raw store. Without attachments, every attachment part is replaced by a
short text part naming the file and its size, so the mails stay readable and
the zip stays small.
"""

from __future__ import annotations

import io
import re
import zipfile
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.tickets.blobs import read_raw
from deskmail.tickets.models import Message

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _without_attachments(raw: bytes) -> bytes:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    for part in message.walk():
        if part.is_multipart() or not part.is_attachment():
            continue
        name = part.get_filename() or "unnamed"
        size = len(part.get_payload(decode=True) or b"")
        part.set_content(f"[attachment removed: {name}, {size} bytes]\n", disposition="inline")
    return message.as_bytes(policy=policy.SMTP)


def entry_name(index: int, message: Message) -> str:
    when = (message.date or message.received_at).strftime("%Y%m%d-%H%M")
    direction = "in" if message.direction == Message.Direction.IN else "out"
    subject = _UNSAFE.sub("-", message.subject or "no-subject").strip("-")[:50] or "no-subject"
    return f"{index:03d}-{when}-{direction}-{subject}.eml"


def thread_zip(actor: Actor, number: int, *, attachments: bool) -> tuple[str, bytes]:
    """(file name, zip bytes) of the ticket's messages in order."""
    ticket = access.ticket(actor, number)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        messages = ticket.messages.order_by("received_at", "id")
        for index, message in enumerate(messages, start=1):
            raw = read_raw(message.raw_sha256)
            if not attachments and message.attachments.exists():
                raw = _without_attachments(raw)
            archive.writestr(entry_name(index, message), raw)
    suffix = "" if attachments else "-without-attachments"
    return f"ticket-{ticket.mailbox.key}-{ticket.number}{suffix}.zip", buffer.getvalue()
