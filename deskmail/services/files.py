"""Attachments and raw mail for people: download, safe preview, and inline images for the
sandboxed mail frame.

A sandboxed frame has no origin of its own, so the browser may not send the
session cookie with the images it loads. Inline images are therefore served
by a signed, short-lived address naming the person and the attachment; the
access check still runs for that person on every request.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.files.storage import default_storage

from deskmail.services import access
from deskmail.services.access import Actor
from deskmail.services.errors import NotFound
from deskmail.tickets.blobs import read_raw
from deskmail.tickets.models import Attachment, Message

INLINE_SALT = "deskmail.console.inline-image"
INLINE_MAX_AGE = 3600
# What a browser may show inline, told by the bytes (never by the name or the sender's type).
_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


def read(attachment: Attachment) -> bytes:
    with default_storage.open(attachment.blob.name, "rb") as handle:
        return bytes(handle.read())


def sniff(data: bytes) -> str | None:
    """image/png, image/jpeg, image/gif, image/webp or application/pdf, by magic; else None.

    SVG is never previewed: it is a document that can carry script.
    """
    for magic, kind in _IMAGE_MAGIC.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def previewable(attachment: Attachment) -> str | None:
    """ "image", "pdf" or None, from the declared type (the bytes are checked when served)."""
    kind = attachment.content_type.lower()
    if kind in ("image/png", "image/jpeg", "image/gif", "image/webp"):
        return "image"
    if kind == "application/pdf":
        return "pdf"
    return None


def inline_token(actor: Actor, attachment: Attachment) -> str:
    return signing.TimestampSigner(salt=INLINE_SALT).sign(f"{actor.user_id}:{attachment.pk}")


def inline_attachment(token: str, pk: int) -> Attachment:
    """The attachment a signed inline address names, if its person may still see it."""
    try:
        value = signing.TimestampSigner(salt=INLINE_SALT).unsign(token, max_age=INLINE_MAX_AGE)
    except signing.BadSignature:
        raise NotFound(f"no attachment {pk}") from None
    user_id, _, signed_pk = value.partition(":")
    if signed_pk != str(pk) or not user_id.isdigit():
        raise NotFound(f"no attachment {pk}")
    user = get_user_model().objects.filter(pk=int(user_id), is_active=True).first()
    return access.attachment(access.actor_for(user), pk)


def raw_message(actor: Actor, pk: int) -> tuple[Message, bytes]:
    message = access.message(actor, pk)
    return message, read_raw(message.raw_sha256)
