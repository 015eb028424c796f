"""The mailbox header filter: `name[=value]` terms, comma-separated, all required.

    "x-antivirus-report=SAFE,x-antispam-evaluation-time"

Header names are case-insensitive; a value must equal one of the header's
values, case-sensitively. The IMAP connector also turns the filter into a
server-side SEARCH (`deskmail.connectors.imap.header_filter_to_search`), whose
HEADER key is only a case-insensitive substring match (RFC 3501 6.4.4), so
`matches()` is the exact check every fetched message passes again.
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
