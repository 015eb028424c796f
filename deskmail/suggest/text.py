"""Words for ranking: case-folded, accents kept, short and very common words dropped.

Pure and framework-free, so the index and a query always agree on what a word is.
"""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TERM = 64

# Words that say nothing about a problem, in the languages customers most often write.
STOPWORDS = frozenset(
    """
    a about after again all also am an and any are as at be been before being but by can
    could did do does doing for from had has have having he her here hers him his how i if
    in into is it its just me my myself no nor not now of off on once only or other our ours
    out over own same she should so some such than that the their theirs them then there
    these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours yourself hello hi dear thanks
    thank regards please best kind
    aber als am an auch auf aus bei bin bis bitte da dann das dass dem den der des die dies
    diese doch du ein eine einem einen einer es für gibt hat hallo haben ich ihr im in ist
    ja kann mein meine mit nach nicht noch nun oder sehr sich sie sind so und uns von vor
    war was wie wir zu zum zur danke gruß grüße freundlichen
    """.split()
)


def stem(word: str) -> str:
    """A light English plural/verb ending strip: printers → printer, printing → print."""
    for ending in ("ing", "ed", "es", "s"):
        if len(word) > len(ending) + 3 and word.endswith(ending):
            return word[: -len(ending)]
    return word


def terms(text: str) -> list[str]:
    """The ranking words of a text, in order, repeats kept."""
    out = []
    for raw in _WORD.findall(text.casefold()):
        if len(raw) < 2 or raw in STOPWORDS or raw.isdigit():
            continue
        out.append(stem(raw)[:MAX_TERM])
    return out


def term_counts(text: str) -> Counter[str]:
    return Counter(terms(text))
