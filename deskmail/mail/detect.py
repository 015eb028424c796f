"""Whether some bytes are an email at all, before anyone tries to make a ticket of them.

Random bytes, an empty file or a stray binary would otherwise parse into a
message with no sender, no subject and the bytes as its body. An email, even a
broken one, starts with header fields (RFC 5322 section 2.2): a name of
printable characters, a colon, a value. We ask for that, and for at least one
of the fields every real mail carries, among the first lines. A header-only
mail, or one without a body, is still an email.
"""

from __future__ import annotations

import re

# How much of the start we look at: enough for any real header block's first fields.
_HEAD = 64 * 1024
_FIELD = re.compile(rb"^([!-9;-~]{1,100})[ \t]*:")
_ENVELOPE = re.compile(rb"^From \S")  # an mbox separator line left in front of a mail
_KNOWN = {
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"received",
    b"return-path",
    b"delivered-to",
    b"mime-version",
    b"content-type",
    b"sender",
    b"reply-to",
    b"in-reply-to",
    b"references",
    b"x-mailer",
}


def not_an_email(raw: bytes) -> str | None:
    """Why these bytes are not an email, or None when they are one."""
    if not raw.strip():
        return "it is empty"
    lines = raw[:_HEAD].splitlines()
    if lines and _ENVELOPE.match(lines[0]):
        lines = lines[1:]
    if not lines or not _FIELD.match(lines[0]):
        return "it does not start with a header field (Name: value)"
    for line in lines:
        if not line.strip():
            break  # the end of the header block
        match = _FIELD.match(line)
        if match and match.group(1).lower() in _KNOWN:
            return None
    return "none of its header fields is one that every email carries (From, Date, Received ...)"


def first_bytes(raw: bytes, limit: int = 80) -> str:
    """The start of the bytes, printable, for an operator to recognise them."""
    shown = raw[:limit].decode("latin-1").encode("unicode_escape").decode("ascii")
    return shown + ("…" if len(raw) > limit else "")
