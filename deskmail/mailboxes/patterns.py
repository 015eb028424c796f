"""Regular expressions an admin configures (identity rules), run with a time limit.

A pattern like `(a|aa)+$` takes exponential time on some inputs, and mail is
written by anyone. Patterns run through the `regex` module, which stops a
search after `MATCH_TIMEOUT_S`; and a pattern that is slow on simple probe
strings is refused when the configuration is loaded, naming the pattern.
"""

from __future__ import annotations

import string

import regex

# Longest a configured pattern may search one subject or body.
MATCH_TIMEOUT_S = 0.2
# A pattern may spend this long on each probe string when it is loaded.
PROBE_TIMEOUT_S = 0.05
_PROBE_LENGTH = 5000


class PatternTimeout(Exception):
    """A configured pattern took longer than its time limit on this text."""


def check(pattern: str) -> None:
    """Raise ValueError (in words an admin can act on) for a pattern that cannot be used."""
    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    for probe in _probes(pattern):
        try:
            compiled.search(probe, timeout=PROBE_TIMEOUT_S)
        except TimeoutError:
            shown = f"{probe[:3]!r}… ({len(probe)} characters)"
            raise ValueError(
                f"{pattern!r} takes too long on the text {shown}: it backtracks "
                "catastrophically (a nested repetition such as (a|aa)+ or (a+)+); rewrite it"
            ) from None


def search(pattern: str, text: str) -> regex.Match[str] | None:
    """The first match in text, within MATCH_TIMEOUT_S; PatternTimeout past it."""
    try:
        return regex.search(pattern, text, timeout=MATCH_TIMEOUT_S)
    except TimeoutError:
        raise PatternTimeout(
            f"{pattern!r} did not finish within {MATCH_TIMEOUT_S:g} s on {len(text)} characters"
        ) from None


def _probes(pattern: str) -> list[str]:
    """Long runs of each character the pattern names, each ending in one that breaks them."""
    characters = {c for c in pattern if c in string.ascii_letters + string.digits + " -_.@"}
    characters |= {"a", "0", " "}
    return [c * _PROBE_LENGTH + "!" for c in sorted(characters)] + [
        c * 25 + "\x00" for c in sorted(characters)
    ]
