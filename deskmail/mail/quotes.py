"""The new part of a reply: quoted history, end-of-message marker and signature removed."""

from __future__ import annotations

import re

# A line (or two joined lines: clients wrap long attributions) that introduces quoted history.
_VERBS = (
    r"wrote|schrieb|a\ écrit|escribió|ha\ scritto|schreef|skrev|napisał|pisze|escreveu|napsal"
    r"|kirjoitti|írta|写道|寫道|작성"
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
# Outlook's header block: "From:" followed within a few lines by "Sent:"/"Date:" (and localised).
_FROM = re.compile(r"^\s*\*?(?:From|Von|De|Van|Från|Fra|Da|Od|Mittente)\s?\*?:", re.IGNORECASE)
_SENT = re.compile(
    r"^\s*\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado(?:\ el)?|Verzonden|Skickat|Sendt|Inviato"
    r"|Data|Wysłano|Odesláno)\s?\*?:",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(r"^--\s?$")
_MOBILE = re.compile(r"^\s*(?:Sent from my|Von meinem|Envoyé de mon|Get Outlook for)\b", re.I)


def _history_start(lines: list[str]) -> int | None:
    count = len(lines)
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if not stripped:
            continue
        # Every pattern below needs a colon on this or the next line, or starts with
        # one of these characters: most lines are rejected here, cheaply.
        if (
            ":" not in line
            and "：" not in line
            and stripped[0] not in "-_>"
            and (i + 1 >= count or (":" not in lines[i + 1] and "：" not in lines[i + 1]))
        ):
            continue
        if _ATTRIBUTION.match(line):
            if line.strip().startswith("_") and not any(
                _FROM.match(x) for x in lines[i + 1 : i + 3]
            ):
                continue
            return i
        if i + 1 < len(lines) and _ATTRIBUTION.match(f"{line} {lines[i + 1]}"):
            if re.match(r"^\s*(?:On|Am|Le|El|Il|Op)\b", line, re.IGNORECASE):
                return i
        if _FROM.match(line) and any(_SENT.match(x) for x in lines[i + 1 : i + 5]):
            return i
        if line.startswith(">") and all(x.startswith(">") or not x.strip() for x in lines[i:]):
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
