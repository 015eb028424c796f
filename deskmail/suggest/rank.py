"""Ranking pairs for a question: Okapi BM25 over the word index, on any database,
fused with the sentence model's ranking when that model is installed.

The index is a plain table of (word, pair, count); the question's words are
looked up by an index and scored by the database itself, so it answers the same
on SQLite and PostgreSQL and needs nothing but the database (no model, no network).
Only the pairs the caller passes are ranked: who may see what is the caller's business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from django.db.models import Avg, Case, Count, FloatField, QuerySet, Sum, Value, When
from django.db.models.functions import Cast

from deskmail.suggest import encoder
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


# Reciprocal rank fusion: a pair's fused score is the sum of 1 / (RRF_K + its rank) in
# each ranking. 60 is the constant of the method's paper; it keeps one ranking's top
# hit from drowning what both rankings agree on.
RRF_K = 60
# How many of each ranking are fused: the fused top few are drawn from these.
FUSE_DEPTH = 30
# Below this cosine a question is about something else: all-MiniLM-L6-v2 puts unrelated
# sentences near 0.1 and paraphrases above 0.5. Without a floor every question would
# get three answers, however unrelated.
MIN_SIMILARITY = 0.3


def semantic(question: str, pairs: QuerySet[Pair], limit: int = 10) -> list[Hit]:
    """The `limit` pairs whose question means the most alike, by the cosine of their
    sentence vectors (a dot product: they are unit length), none below MIN_SIMILARITY;
    empty without the model.

    Brute force over the pairs' stored vectors: for tens of thousands of pairs a
    matrix product is a few milliseconds and needs no vector index in the database."""
    model = encoder.get()
    if model is None or not question.strip():
        return []
    rows = [
        (pk, bytes(blob))
        for pk, blob in pairs.filter(vector__isnull=False).values_list("id", "vector")
        if blob is not None
    ]
    if not rows:
        return []
    ids = np.fromiter((pk for pk, _ in rows), dtype=np.int64, count=len(rows))
    matrix = encoder.from_bytes([blob for _, blob in rows])
    scores = matrix @ model.encode([question])[0]
    best = np.argsort(-scores, kind="stable")[:limit]
    return [
        Hit(int(ids[at]), round(float(scores[at]), 4))
        for at in best
        if scores[at] >= MIN_SIMILARITY
    ]


def fused(question: str, pairs: QuerySet[Pair], limit: int = 10) -> list[Hit]:
    """Words and meaning together: BM25 and the sentence vectors, fused by reciprocal rank.

    Without the sentence model this is the BM25 ranking alone (same order)."""
    rankings = [rank(question, pairs, FUSE_DEPTH), semantic(question, pairs, FUSE_DEPTH)]
    score: dict[int, float] = {}
    for hits in rankings:
        for place, hit in enumerate(hits, start=1):
            score[hit.pair_id] = score.get(hit.pair_id, 0.0) + 1.0 / (RRF_K + place)
    best = sorted(score, key=lambda pk: (-score[pk], -pk))[:limit]
    return [Hit(pk, round(score[pk], 6)) for pk in best]
