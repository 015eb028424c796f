"""The framework-free mail core: parse raw messages into `ParsedMessage`. No Django imports.

The names below load on first use (`from deskmail.mail import parse_bytes`), so that
importing one small module of the package (its subjects, its addresses) does not
load the parser too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deskmail.mail.message import Address, Attachment, BounceInfo, ParsedMessage
    from deskmail.mail.parser import parse_bytes, parse_file

__all__ = ["Address", "Attachment", "BounceInfo", "ParsedMessage", "parse_bytes", "parse_file"]

_HOME = {
    "Address": "deskmail.mail.message",
    "Attachment": "deskmail.mail.message",
    "BounceInfo": "deskmail.mail.message",
    "ParsedMessage": "deskmail.mail.message",
    "parse_bytes": "deskmail.mail.parser",
    "parse_file": "deskmail.mail.parser",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
