"""What ranking needs of every pair, kept in memory per process: its id, its length in
words (BM25's document length) and its sentence vector, as numpy arrays.

Reading 100,000 vectors from the database for each question takes seconds; a matrix
product over them in memory takes milliseconds. The arrays are read on first use and
kept in step cheaply: before each use two index lookups (the highest pair id and the
highest word-posting id) tell whether anything was indexed since, by any process.
Indexing a pair writes its word postings anew, so pairs with postings newer than the
last look, and pairs newer than it, are all that is read again. Pairs removed since
stay in the arrays until the next full read: the rankings only ever return pairs the
caller's own query still finds. What this process indexes itself is written through
at once (`put`).

Memory: 384 float32 per pair, about 150 MiB for 100,000 pairs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from django.db import connections

from deskmail.suggest import encoder
from deskmail.suggest.models import Pair, Term

# Rows written by transactions that committed out of id order (PostgreSQL hands out ids
# at insert, not at commit) are caught by reading this many ids back each time: about
# 300 pairs' postings (a rebuild's batch is 200), and the last pairs.
POSTINGS_BACK = 5_000
PAIRS_BACK = 200
# Read in chunks: the database's limit on query parameters, and memory.
CHUNK = 2_000


@dataclass(frozen=True)
class Snapshot:
    """The pairs as last read: ids ascending, and row i of each array is pair ids[i]'s."""

    ids: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.float32]
    vectors: npt.NDArray[np.float32]  # a zero row when the pair has no vector
    mean_length: float

    def rows(self, pair_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The row of each pair id; -1 for a pair not read yet."""
        if not len(self.ids):
            return np.full(len(pair_ids), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.ids, pair_ids), len(self.ids) - 1)
        return np.where(self.ids[at] == pair_ids, at, -1).astype(np.int64)


_EMPTY = Snapshot(
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.float32),
    np.zeros((0, encoder.DIMENSIONS), dtype=np.float32),
    1.0,
)


class _Store:
    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.snapshot = _EMPTY
        self.ids: npt.NDArray[np.int64] = _EMPTY.ids
        self.lengths: npt.NDArray[np.float32] = _EMPTY.lengths
        self.vectors: npt.NDArray[np.float32] = _EMPTY.vectors
        self.seen: tuple[int, int] | None = None  # (highest pair id, highest posting id)

    def _latest(self) -> tuple[int, int]:
        pairs, terms = Pair._meta.db_table, Term._meta.db_table
        with connections[self.alias].cursor() as cursor:
            sql = f"SELECT (SELECT MAX(id) FROM {pairs}), (SELECT MAX(id) FROM {terms})"  # noqa: S608
            cursor.execute(sql)
            top_pair, top_term = cursor.fetchone()
        return int(top_pair or 0), int(top_term or 0)

    def _read(self, pks: list[int]) -> list[tuple[int, int, bytes | None]]:
        rows = Pair.objects.using(self.alias).values_list("id", "length", "vector")
        out = []
        for start in range(0, len(pks), CHUNK):
            chunk = rows.filter(pk__in=pks[start : start + CHUNK])
            out += [(pk, n, None if v is None else bytes(v)) for pk, n, v in chunk]
        return out

    def _changed_since(self, top_pair: int, top_term: int) -> list[int]:
        postings = Term.objects.using(self.alias).filter(id__gt=top_term - POSTINGS_BACK)
        changed = set(postings.values_list("pair_id", flat=True))
        newer = Pair.objects.using(self.alias).filter(id__gt=top_pair - PAIRS_BACK)
        changed.update(newer.values_list("id", flat=True))
        return sorted(changed)

    def current(self) -> Snapshot:
        latest = self._latest()
        if latest == self.seen:
            return self.snapshot
        if self.seen is None or latest[0] < self.seen[0] or latest[1] < self.seen[1]:
            self._read_all()  # first use, or ids went back: read it all
        else:
            changed = self._changed_since(*self.seen)
            if len(changed) > len(self.snapshot.ids) // 2:
                self._read_all()
            else:
                self._merge(self._read(changed))
        self.seen = latest
        return self.snapshot

    def _read_all(self) -> None:
        """Every pair, streamed into the arrays (never all the vectors twice in memory)."""
        pairs = Pair.objects.using(self.alias)
        self._keep(_EMPTY, room=pairs.count())
        n = 0
        width = 4 * encoder.DIMENSIONS
        rows = pairs.order_by("id").values_list("id", "length", "vector")
        for pk, length, blob in rows.iterator(chunk_size=CHUNK):
            if n == len(self.ids):  # indexed while being read
                self._keep(Snapshot(self.ids[:n], self.lengths[:n], self.vectors[:n], 1.0))
            self.ids[n], self.lengths[n] = pk, length
            if blob is not None and len(blob) == width:
                self.vectors[n] = np.frombuffer(bytes(blob), dtype="<f4")
            n += 1
        self._show(n)

    def _keep(self, full: Snapshot, room: int = 0) -> None:
        """Hold `full` in arrays with room to grow: a pair indexed later is appended in
        place instead of copying every vector (150 MiB at 100,000 pairs) each time."""
        n = len(full.ids)
        size = max(n + room, n + n // 8 + 256)
        self.ids = np.zeros(size, dtype=np.int64)
        self.lengths = np.zeros(size, dtype=np.float32)
        self.vectors = np.zeros((size, encoder.DIMENSIONS), dtype=np.float32)
        self.ids[:n], self.lengths[:n], self.vectors[:n] = full.ids, full.lengths, full.vectors
        self._show(n)

    def _show(self, n: int) -> None:
        lengths = self.lengths[:n]
        mean = float(lengths.mean()) if n else 1.0
        self.snapshot = Snapshot(self.ids[:n], lengths, self.vectors[:n], mean or 1.0)

    def _merge(self, rows: list[tuple[int, int, bytes | None]]) -> None:
        """Rows of pairs changed or added: old rows replaced, new ones placed in order."""
        if not rows:
            return
        old = self.snapshot
        n = len(old.ids)
        update = _build(rows)
        at = old.rows(update.ids)
        known = at >= 0
        # Known pairs in place: a reader of the same arrays sees either version of a row.
        old.lengths[at[known]] = update.lengths[known]
        old.vectors[at[known]] = update.vectors[known]
        new = ~known
        added = int(new.sum())
        if not added:
            self._show(n)
            return
        if n and update.ids[new][0] < old.ids[-1]:  # an older id read late: in order anew
            ids = np.concatenate([old.ids, update.ids[new]])
            order = np.argsort(ids, kind="stable")
            lengths = np.concatenate([old.lengths, update.lengths[new]])[order]
            vectors = np.concatenate([old.vectors, update.vectors[new]])[order]
            self._keep(Snapshot(ids[order], lengths, vectors, 1.0))
            return
        if n + added > len(self.ids):
            self._keep(old, room=added)
        # Beyond what readers of the current snapshot look at: appended in place.
        self.ids[n : n + added] = update.ids[new]
        self.lengths[n : n + added] = update.lengths[new]
        self.vectors[n : n + added] = update.vectors[new]
        self._show(n + added)


def _build(rows: list[tuple[int, int, bytes | None]]) -> Snapshot:
    rows = sorted(rows)
    if not rows:
        return _EMPTY
    ids = np.fromiter((pk for pk, _, _ in rows), dtype=np.int64, count=len(rows))
    lengths = np.fromiter((n for _, n, _ in rows), dtype=np.float32, count=len(rows))
    zero = bytes(4 * encoder.DIMENSIONS)
    blobs = [blob if blob and len(blob) == len(zero) else zero for _, _, blob in rows]
    vectors = encoder.from_bytes(blobs)
    mean = float(lengths.mean()) or 1.0
    return Snapshot(ids, lengths, vectors, mean)


_lock = threading.Lock()
_stores: dict[str, _Store] = {}


def current(alias: str = "default") -> Snapshot:
    """Every pair's id, length and vector, as of now."""
    with _lock:
        store = _stores.get(alias) or _stores.setdefault(alias, _Store(alias))
        return store.current()


def put(pairs: list[Pair], alias: str = "default") -> None:
    """Pairs this process has just written: in the arrays at once, whatever ids
    the database handed out (a rolled-back transaction's ids are handed out again)."""
    with _lock:
        store = _stores.get(alias)
        if store is None or store.seen is None:
            return  # not read yet: the first use reads them
        store._merge(
            [(p.pk, p.length, None if p.vector is None else bytes(p.vector)) for p in pairs]
        )


def forget() -> None:
    """Drop what was read: the next use reads everything again."""
    with _lock:
        _stores.clear()
