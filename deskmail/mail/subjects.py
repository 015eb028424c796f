"""Subjects: normalising them for comparison and finding our ticket tags in them. Pure.

The normalised subject drops every reply/forward prefix any mail client adds
(in any case, repeated, with or without a space after the colon), drops our
ticket tags, collapses whitespace and case-folds, so that "RE: FW: [SUP#12]
Printer  broken" and "printer broken" compare equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Reply and forward prefixes of common mail clients, by language. A prefix only
# counts before a colon, so a subject like "Regarding invoices" is left alone.
_PREFIXES = (
    "re",  # English, and most languages
    "fw",
    "fwd",
    "aw",  # German: Antwort
    "wg",  # German: Weitergeleitet
    "sv",  # Scandinavian: Svar
    "vs",  # Finnish: Vastaus
    "vb",  # Finnish: välitetty
    "tr",  # French: Transféré
    "réf",  # French: Référence ("Réf. :")
    "ref",
    "rif",  # Italian
    "i",  # Italian: Inoltrato
    "r",  # Italian: Risposta
    "antw",  # Dutch: Antwoord
    "doorst",  # Dutch: Doorsturen
    "odp",  # Polish: Odpowiedź
    "pd",  # Polish: Przekazanie dalej
    "enc",  # Portuguese: Encaminhado
    "res",  # Portuguese: Resposta
    "rv",  # Spanish: Reenviar
    "ynt",  # Turkish: Yanıt
    "ilt",  # Turkish: İlet
    "回复",  # Chinese (simplified): reply
    "回覆",  # Chinese (traditional): reply
    "答复",
    "转发",  # Chinese (simplified): forward
    "轉寄",  # Chinese (traditional): forward
    "返信",  # Japanese
    "転送",
    "回信",
    "ответ",  # Russian
    "пересл",
    "атв",
)
_PREFIX = re.compile(
    r"^\s*(?:"
    + "|".join(sorted((re.escape(p) for p in set(_PREFIXES)), key=len, reverse=True))
    # "Re[2]:", "Re(2):", "Réf. :", "回复：" (full-width colon).
    + r")\.?\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
# "[SUP#1234]" — a mailbox key of 1 to 5 letters or digits and a ticket number.
_TAG = re.compile(r"\[\s*([A-Za-z0-9]{1,5})\s*#\s*(\d{1,18})\s*\]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class SubjectTag:
    key: str  # upper-cased
    number: int


def find_tags(subject: str) -> list[SubjectTag]:
    """Every `[KEY#N]` tag in a subject, in order."""
    return [SubjectTag(m.group(1).upper(), int(m.group(2))) for m in _TAG.finditer(subject)]


def find_tag(subject: str, key: str) -> int | None:
    """The ticket number of the first tag with this mailbox key, or None."""
    key = key.upper()
    for tag in find_tags(subject):
        if tag.key == key:
            return tag.number
    return None


def strip_prefixes(subject: str) -> str:
    """The subject without its leading reply/forward prefixes and tags (case kept)."""
    previous = None
    text = subject
    while previous != text:
        previous = text
        text = _PREFIX.sub("", text, count=1)
        text = re.sub(r"^\s*" + _TAG.pattern + r"\s*", "", text)
    return text


def normalise(subject: str) -> str:
    """The comparison form: no prefixes, no tags anywhere, single spaces, case-folded."""
    text = strip_prefixes(subject or "")
    text = _TAG.sub(" ", text)
    return _SPACE.sub(" ", text).strip().casefold()


def is_reply_subject(subject: str) -> bool:
    """Whether the subject starts with a reply or forward prefix."""
    return bool(_PREFIX.match(subject or ""))
