"""The mailbox header filter: `name[=value]` terms, comma-separated, all required.

It becomes a server-side IMAP SEARCH, exactly:

    ""                          -> UNSEEN
    "x-antivirus-report"        -> UNSEEN HEADER "x-antivirus-report" ""
    "x-antivirus-report=SAFE"   -> UNSEEN HEADER "x-antivirus-report" "SAFE"

Header names are case-insensitive. IMAP's HEADER search is a case-insensitive
substring match (RFC 3501 6.4.4), so `matches()` checks each fetched message
again: the value must equal one of the header's values, case-sensitively.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 field name: printable ASCII but ':'


@dataclass(frozen=True)
class HeaderTerm:
    name: str  # lower-case
    value: str | None  # None: the header must only be present


def parse_header_filter(text: str | None) -> list[HeaderTerm]:
    """The terms of a header filter; raises ValueError on a malformed one."""
    terms = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, _, value = part.partition("=")
        name = name.strip().lower()
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a header name")
        if any(c in value for c in "\r\n"):
            raise ValueError(f"the value for {name} spans lines")
        terms.append(HeaderTerm(name, value.strip() or None))
    return terms


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def header_filter_to_search(text: str | None) -> list[str]:
    """The IMAP SEARCH keys for a header filter, quoted as sent: join them with spaces."""
    keys = ["UNSEEN"]
    for term in parse_header_filter(text):
        keys += ["HEADER", _quote(term.name), _quote(term.value or "")]
    return keys


def matches(terms: list[HeaderTerm], raw: bytes) -> bool:
    """Whether a message satisfies every term (values compared case-sensitively)."""
    if not terms:
        return True
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    for term in terms:
        values = [str(v).strip() for v in headers.get_all(term.name, [])]
        if not values or (term.value is not None and term.value not in values):
            return False
    return True
