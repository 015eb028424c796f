"""The new part of a reply: quoted history, end-of-message marker and signature removed.

Every check looks at one line or two neighbouring ones, and the only look-ahead
("is everything below quoted?") is computed once from the bottom up, so the cost
is linear in the text whatever it holds.
"""

from __future__ import annotations

import re

# A line this long is a paragraph, not an attribution: it is never tried.
_MAX_ATTRIBUTION = 1_000

# A line (or two joined lines: clients wrap long attributions) that introduces quoted history.
_VERBS = (
    r"wrote|schrieb|a\ écrit|escribió|ha\ scritto|schreef|skrev|napisał|pisze|escreveu|napsal"
    r"|kirjoitti|írta|写道|寫道|작성|написал(?:\(а\)|а)?|написав(?:\(ла\)|ла)?|написа"
    r"|yazdı|έγραψε|a\ scris|napísal|je\ napisal|rašė|rakstīja|kirjutas|כתב|كتب"
)
_ATTRIBUTION = re.compile(
    rf"""^\s*(?:
        (?:On|Am|Le|El|Il|Op|Den|På|W\ dniu|Em|Dne)\b.{{0,300}}?(?:{_VERBS})
        (?:\s*[:：]?|\ .{{0,200}}[:：])\s*$
      | .{{0,200}}(?:{_VERBS})\s*[:：]\s*$
      | (?=.*\d:\d).{{0,200}}<[^<>\s@]+@[^<>\s]+>\s*[:：]\s*$
      | -{{2,}}\s*(?:Original\ Message|Ursprüngliche\ Nachricht|Message\ d'origine|Mensaje\ original
           |Messaggio\ originale|Oorspronkelijk\ bericht|Originalmeddelande|Original\ email\ message
           |Alkuperäinen\ viesti|Původní\ zpráva|Wiadomość\ oryginalna)\s*-{{2,}}\s*$
      | _{{20,}}\s*$
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_LEADING_WORD = re.compile(r"^\s*(?:On|Am|Le|El|Il|Op)\b", re.IGNORECASE)
# Without a known verb, a line ending in a colon that names an address or a time is
# an attribution in some language when only quoted lines follow it.
_ANY_LANGUAGE = re.compile(r"(?:@[^\s@]+\.[^\s@]+|\d:\d\d).{0,200}[:：]\s*$")
# Outlook's header block: "From:" followed within a few lines by "Sent:"/"Date:" (and localised).
_FROM = re.compile(r"^\s*\*?(?:From|Von|De|Van|Från|Fra|Da|Od|Mittente)\s?\*?:", re.IGNORECASE)
_SENT = re.compile(
    r"^\s*\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado(?:\ el)?|Verzonden|Skickat|Sendt|Inviato"
    r"|Data|Wysłano|Odesláno)\s?\*?:",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(r"^--\s?$")
_MOBILE = re.compile(r"^\s*(?:Sent from my|Von meinem|Envoyé de mon|Get Outlook for)\b", re.I)


class _QuotedTail:
    """Whether every line from i on is quoted (">") or blank, one at least quoted.

    That holds exactly for the lines after the last unquoted non-blank line, up to
    the last quoted one: found by reading the text's tail once, from the bottom up.
    """

    def __init__(self, lines: list[str]) -> None:
        self.first = 0  # quoted[i] for first <= i <= last
        self.last = -1
        for i in range(len(lines) - 1, -1, -1):
            line = lines[i]
            if line[:1] == ">":
                if self.last < 0:
                    self.last = i
            elif line.strip():
                self.first = i + 1
                break

    def __getitem__(self, i: int) -> bool:
        return self.first <= i <= self.last


def _history_start(lines: list[str]) -> int | None:
    count = len(lines)
    quoted = _QuotedTail(lines)
    for i, line in enumerate(lines):
        first = line[:1]
        if first == ">":
            if quoted[i]:
                return i
            continue
        # Every pattern below needs a colon on this or the next line, or starts with
        # one of these characters: most lines are rejected here, cheaply.
        if ":" not in line and "：" not in line:
            following = lines[i + 1] if i + 1 < count else ""
            if ":" not in following and "：" not in following:
                stripped = line.lstrip()
                if not stripped or stripped[0] not in "-_":
                    continue
        stripped = line.strip()
        if not stripped or len(stripped) > _MAX_ATTRIBUTION:
            continue
        following = lines[i + 1] if i + 1 < count else ""
        if _ATTRIBUTION.match(stripped):
            if stripped.startswith("_") and not any(_FROM.match(x) for x in lines[i + 1 : i + 3]):
                continue
            return i
        if following.strip() and len(following) <= _MAX_ATTRIBUTION:
            joined = f"{stripped} {following.strip()}"
            quoted_after = quoted[i + 2]
            if _ATTRIBUTION.match(joined) and (quoted_after or _LEADING_WORD.match(line)):
                return i
            if quoted_after and _ANY_LANGUAGE.search(joined):
                return i
        if quoted[i + 1] and _ANY_LANGUAGE.search(stripped):
            return i
        if _FROM.match(line) and any(_SENT.match(x) for x in lines[i + 1 : i + 5]):
            return i
    return None


def extract_reply(text: str, end_marker: str | None = None) -> str:
    """What the sender wrote in this mail, without the history it quotes or its signature."""
    if end_marker:
        cut = text.find(end_marker)
        if cut >= 0:
            text = text[:cut]
    lines = text.split("\n")
    start = _history_start(lines)
    if start is not None:
        lines = lines[:start]
    for i, line in enumerate(lines):
        if _SIGNATURE.match(line) or _MOBILE.match(line):
            lines = lines[:i]
            break
    return "\n".join(lines).strip()
