"""Envelope recipients for APIs that send MIME as it is (Graph sendMail, EWS CreateItem).

SMTP takes the recipients apart from the message; Graph and EWS read them from the
message's To, Cc and Bcc. A recipient of the envelope that no header names would
silently not get the mail, so it is added in a Bcc header, which Exchange removes
before delivery (as any MTA does with Bcc). Nothing else of the message changes.
"""

from __future__ import annotations

import email.utils
from email.parser import BytesHeaderParser
from email.policy import compat32


def header_recipients(raw: bytes) -> set[str]:
    """The addresses (lower-cased) of the To, Cc and Bcc headers."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    values = [str(v) for name in ("To", "Cc", "Bcc") for v in headers.get_all(name) or []]
    return {address.lower() for _, address in email.utils.getaddresses(values) if address}


def with_envelope(raw: bytes, recipients: list[str]) -> bytes:
    """raw, with a Bcc header for envelope recipients no header names (else unchanged)."""
    named = header_recipients(raw)
    missing = [r for r in recipients if r.lower() not in named]
    if not missing:
        return raw
    eol = b"\r\n" if b"\r\n" in raw[:4096] else b"\n"
    return b"Bcc: " + ", ".join(missing).encode() + eol + raw
