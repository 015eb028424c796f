"""Ranking pairs for a question: Okapi BM25 over the word index, on any database.

The index is a plain table of (word, pair, count) read with one indexed query
for the question's words, so it answers the same on SQLite and PostgreSQL and
needs nothing but the database. Only the pairs the caller passes are ranked:
who may see what is decided by the caller.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Avg, Count, QuerySet

from deskmail.suggest.models import Pair, Term
from deskmail.suggest.text import terms

K1 = 1.2
B = 0.75
MAX_QUERY_TERMS = 40


@dataclass(frozen=True)
class Hit:
    pair_id: int
    score: float


def rank(question: str, pairs: QuerySet[Pair], limit: int = 10) -> list[Hit]:
    """The best `limit` of `pairs` for the question, best first; none without a shared word."""
    wanted = list(dict.fromkeys(terms(question)))[:MAX_QUERY_TERMS]
    if not wanted:
        return []
    stats = pairs.aggregate(n=Count("id"), avg=Avg("length"))
    n, avg = int(stats["n"] or 0), float(stats["avg"] or 0.0) or 1.0
    if n == 0:
        return []
    rows = Term.objects.filter(term__in=wanted, pair__in=pairs.values("pk")).values_list(
        "pair_id", "term", "count", "pair__length"
    )
    postings: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for pair_id, term, count, length in rows:
        postings[term].append((pair_id, count, length))
    scores: dict[int, float] = defaultdict(float)
    for hits in postings.values():
        df = len(hits)
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for pair_id, tf, length in hits:
            scores[pair_id] += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / avg))
    best = sorted(scores.items(), key=lambda item: (-item[1], -item[0]))[:limit]
    return [Hit(pair_id, round(score, 4)) for pair_id, score in best]
