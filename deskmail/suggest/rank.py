"""Ranking pairs for a question: Okapi BM25 over the word index, on any database.

The index is a plain table of (word, pair, count); the question's words are
looked up by an index and scored by the database itself, so it answers the same
on SQLite and PostgreSQL and needs nothing but the database (no model, no network).
Only the pairs the caller passes are ranked: who may see what is the caller's business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db.models import Avg, Case, Count, FloatField, QuerySet, Sum, Value, When
from django.db.models.functions import Cast

from deskmail.suggest.models import Pair, Term
from deskmail.suggest.text import terms

K1 = 1.2
B = 0.75
MAX_QUERY_TERMS = 40
# A word in more than this share of the pairs says little (its idf is small) and costs
# the most to score; it is left out, unless the question has too few others.
# Only in a collection of PRUNE_FROM pairs or more: below, scoring everything is cheap.
COMMON_SHARE = 0.2
KEEP_AT_LEAST = 5
PRUNE_FROM = 500


@dataclass(frozen=True)
class Hit:
    pair_id: int
    score: float


def _telling(df: dict[str, int], n: int) -> dict[str, int]:
    """The words worth scoring: all but the very common ones, and at least the rarest few."""
    if n < PRUNE_FROM:
        return df
    rarest = sorted(df, key=lambda term: (df[term], term))
    kept = [t for t in rarest if df[t] <= COMMON_SHARE * n]
    if len(kept) < KEEP_AT_LEAST:
        kept = rarest[:KEEP_AT_LEAST]
    return {term: df[term] for term in kept}


def rank(question: str, pairs: QuerySet[Pair], limit: int = 10) -> list[Hit]:
    """The best `limit` of `pairs` for the question, best first; none without a shared word.

    Three small queries: the collection's size and mean length, each word's document
    frequency, then the scores summed and ordered by the database, which returns only
    the best rows (a common word may occur in most pairs: its postings never leave it).
    """
    wanted = list(dict.fromkeys(terms(question)))[:MAX_QUERY_TERMS]
    if not wanted:
        return []
    stats = pairs.aggregate(n=Count("id"), avg=Avg("length"))
    n, avg = int(stats["n"] or 0), float(stats["avg"] or 0.0) or 1.0
    if n == 0:
        return []
    postings = Term.objects.filter(term__in=wanted, pair__in=pairs.values("pk"))
    df = dict(postings.values("term").annotate(df=Count("id")).values_list("term", "df"))
    if not df:
        return []
    df = _telling(df, n)
    postings = postings.filter(term__in=list(df))
    idf = {term: math.log(1 + (n - d + 0.5) / (d + 0.5)) for term, d in df.items()}
    weight = Case(
        *[When(term=term, then=Value(value)) for term, value in idf.items()],
        default=Value(0.0),
        output_field=FloatField(),
    )
    tf = Cast("count", FloatField())
    length = Cast("pair__length", FloatField())
    score = Sum(
        weight * tf * Value(K1 + 1) / (tf + Value(K1 * (1 - B)) + Value(K1 * B / avg) * length)
    )
    best = (
        postings.values("pair_id")
        .annotate(score=score)
        .order_by("-score", "-pair_id")[:limit]
        .values_list("pair_id", "score")
    )
    return [Hit(pair_id, round(float(value), 4)) for pair_id, value in best]
