"""Ranking pairs for a question: Okapi BM25 over the word index, on any database,
fused with the sentence model's ranking when that model is installed.

The index is a plain table of (word, pair, count); the question's words are
looked up by its index and their postings scored here, with each pair's length and
sentence vector kept in memory (`memory`), so it answers the same on SQLite and
PostgreSQL and needs nothing but the database (no model, no network, no extension).
Only the pairs the caller passes are returned: who may see what is the caller's
business, asked of the caller's query for the best-ranked few.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from django.db import connections
from django.db.models import QuerySet

from deskmail.suggest import encoder, memory
from deskmail.suggest.models import Pair, Term
from deskmail.suggest.text import term_counts, terms

K1 = 1.2
B = 0.75
MAX_QUERY_TERMS = 40
# A word in more than this share of the pairs says little (its idf is small) and costs
# the most to score; it is left out, unless the question has too few others.
# Only in a collection of PRUNE_FROM pairs or more: below, scoring everything is cheap.
COMMON_SHARE = 0.2
KEEP_AT_LEAST = 5
PRUNE_FROM = 500
# At most this many postings are scored for a question, the rarest words' first: a
# common word's thousands of postings would cost the most and move the ranking least.
MAX_POSTINGS = 10_000
# How many of the best by word presence are scored again with their words' counts.
RESCORE = 100


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


def _budget(df: dict[str, int]) -> dict[str, int]:
    """The rarest words whose postings together stay within MAX_POSTINGS (the rarest
    one always): what scoring reads grows with the question, not with the index."""
    kept: dict[str, int] = {}
    total = 0
    for term in sorted(df, key=lambda term: (df[term], term)):
        if kept and total + df[term] > MAX_POSTINGS:
            break
        kept[term] = df[term]
        total += df[term]
    return kept


def _frequencies(alias: str, words: list[str], cap: int | None) -> dict[str, int]:
    """How many pairs hold each word (those that occur), counted up to `cap`: beyond
    MAX_POSTINGS a word is not scored, and counting a word in most pairs costs the most."""
    table = Term._meta.db_table
    limit = f" LIMIT {int(cap)}" if cap is not None else ""
    union = " UNION ALL ".join(
        f"SELECT %s, COUNT(*) FROM (SELECT 1 FROM {table} WHERE term = %s{limit}) AS w{at}"  # noqa: S608
        for at in range(len(words))
    )
    with connections[alias].cursor() as cursor:
        cursor.execute(union, [value for word in words for value in (word, word)])
        return {word: int(count) for word, count in cursor.fetchall() if count}


def visible(pairs: QuerySet[Pair], ranked: list[int], limit: int) -> list[int]:
    """The first `limit` of the ranked pair ids that `pairs` holds, in their order.

    Rankings run over the whole index in memory; who may see what is the caller's
    query, asked only for the best few (by primary key), more when too few pass."""
    found: list[int] = []
    step = max(4 * limit, 64)
    at = 0
    while at < len(ranked) and len(found) < limit:
        chunk = ranked[at : at + step]
        passed = set(pairs.filter(pk__in=chunk).values_list("pk", flat=True))
        found += [pk for pk in chunk if pk in passed]
        at += step
        step = min(step * 4, memory.CHUNK)
    return found[:limit]


def rank(question: str, pairs: QuerySet[Pair], limit: int = 10) -> list[Hit]:
    """The best `limit` of `pairs` for the question, best first; none without a shared word.

    The collection's size and mean length are the whole index's (kept in memory, as
    search engines do); each word's document frequency comes from the word index (its
    own index answers it), and the postings of the telling words within MAX_POSTINGS
    are read and scored here. The best are then kept to those `pairs` holds.
    """
    wanted = list(dict.fromkeys(terms(question)))[:MAX_QUERY_TERMS]
    if not wanted:
        return []
    held = memory.current(pairs.db)
    n = len(held.ids)
    if n == 0:
        return []
    postings = Term.objects.using(pairs.db)
    df = _frequencies(pairs.db, wanted, MAX_POSTINGS + 1)
    if not df:
        return []
    df = _budget(_telling(df, n))
    over = [term for term, d in df.items() if d > MAX_POSTINGS]
    if over:  # the rarest word is that common: its idf needs its real frequency
        df.update(_frequencies(pairs.db, over, None))
    idf = {term: math.log(1 + (n - d + 0.5) / (d + 0.5)) for term, d in df.items()}
    # The word index alone answers (pair, word): each pair's score as if every word
    # occurred once. The best are then scored with their real counts.
    rows = list(postings.filter(term__in=list(df)).values_list("pair_id", "term"))
    if not rows:
        return []
    ids, scores = _scores(held, idf, rows, [1] * len(rows))
    order = np.lexsort((-ids, -scores))
    best = [int(pk) for pk in ids[order[: max(RESCORE, limit)]]]
    # Their counts from their questions, by the function that indexed them: a lookup
    # by primary key, where the word index would be searched word by word.
    exact: list[tuple[int, str]] = []
    counts: list[int] = []
    for start in range(0, len(best), memory.CHUNK):
        chunk = Pair.objects.using(pairs.db).filter(pk__in=best[start : start + memory.CHUNK])
        for pk, text in chunk.values_list("pk", "question"):
            for term, count in term_counts(text).items():
                if term in idf:
                    exact.append((pk, term))
                    counts.append(count)
    top_ids, top_scores = _scores(held, idf, exact, counts)
    top = np.lexsort((-top_ids, -top_scores))  # best first; the newer pair first on a tie
    ranked = [int(pk) for pk in top_ids[top]] + [int(pk) for pk in ids[order[len(best) :]]]
    score: dict[int, float] = dict(zip(top_ids.tolist(), top_scores.tolist(), strict=True))
    hits = []
    for pk in visible(pairs, ranked, limit):
        value = score[pk] if pk in score else float(scores[np.searchsorted(ids, pk)])
        hits.append(Hit(pk, round(value, 4)))
    return hits


def _scores(
    held: memory.Snapshot, idf: dict[str, float], rows: list[tuple[int, str]], counts: list[int]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Each pair's BM25 score from its postings: (pair ids ascending, their scores)."""
    pair_ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    weight = np.fromiter((idf[row[1]] for row in rows), dtype=np.float64, count=len(rows))
    tf = np.asarray(counts, dtype=np.float64)
    at = held.rows(pair_ids)
    length = np.where(at >= 0, held.lengths[np.maximum(at, 0)], held.mean_length)
    each = weight * tf * (K1 + 1) / (tf + K1 * (1 - B) + K1 * B * length / held.mean_length)
    ids, where = np.unique(pair_ids, return_inverse=True)
    return ids, np.bincount(where, weights=each, minlength=len(ids))


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
# The most alike this many times the limit are sorted and checked first; all of them
# only when the caller's query leaves too few of those.
SEMANTIC_DEPTH = 16


def semantic(question: str, pairs: QuerySet[Pair], limit: int = 10) -> list[Hit]:
    """The `limit` pairs whose question means the most alike, by the cosine of their
    sentence vectors (a dot product: they are unit length), none below MIN_SIMILARITY;
    empty without the model.

    Brute force over every pair's vector, kept in memory as one matrix: for 100,000
    pairs the product is a few milliseconds and needs no vector index in the database
    (pgvector and sqlite-vec are not assumed). The best are kept to those `pairs` holds."""
    model = encoder.get()
    if model is None or not question.strip():
        return []
    held = memory.current(pairs.db)
    if not len(held.ids):
        return []
    scores = held.vectors @ model.encode([question])[0]
    close = np.flatnonzero(scores >= MIN_SIMILARITY)
    found: list[int] = []
    for depth in (SEMANTIC_DEPTH * max(limit, 1), len(close)):
        best = close
        if depth < len(close):  # the best few, without sorting them all
            best = close[np.argpartition(-scores[close], depth)[:depth]]
        # Best first; on a tie the older pair first.
        best = best[np.lexsort((held.ids[best], -scores[best]))]
        found = visible(pairs, [int(pk) for pk in held.ids[best]], limit)
        if len(found) == limit or depth >= len(close):
            break
    at = held.rows(np.array(found, dtype=np.int64))
    return [Hit(pk, round(float(scores[i]), 4)) for pk, i in zip(found, at, strict=True)]


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
