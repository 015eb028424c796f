"""Suggested answers at scale: one ticket's suggestions with 100,000 resolved tickets indexed.

Each database is measured in a child process on a fresh database. First SAMPLE
resolved tickets (with their messages) go through the real indexing code: the
batched rebuild (`deskmail suggestions reindex`) and then, one ticket at a time,
what runs when a ticket is resolved (sentence vector included): pairs per second.
The latency of one ticket's suggestions is measured there (the baseline), then the
history is grown to PAIRS by bulk inserts of tickets, pairs, word postings and
precomputed sentence vectors (encoding 100,000 questions would take most of an
hour on two cores and measures nothing the sample does not), and measured again.

Questions are those of `suggest_bench` (12 recurring problems, a third in German)
with a sentence of filler words after them, drawn from a Zipf law over a large
vocabulary, so the word index has the long tail and the very common words of real
mail. A bulk pair's vector is its problem wording's real vector, slightly jittered.

Latency: `suggestions.for_ticket`, the service the console and the API call, for
new tickets whose stored suggestions are removed before each call, so each call
ranks; fused (the model loaded) and words only (as without the model). The first
call of a process is reported apart: it reads the stored vectors into memory.
Memory: a separate process on the finished 100,000-pair database that loads the
model and answers one ticket, as a worker would; its resident size and peak.

    python -m bench.suggest_scale [PAIRS]
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.children import measure_in_child
from bench.suggest_bench import GERMAN_SHARE, PROBLEMS, _question

PAIRS = 100_000
SAMPLE = 1_000
LIVE = 100
QUERIES = 60
BENCH_DB = "deskmail_suggest_scale"
VOCABULARY = 20_000
BULK_BATCH = 5_000


def _word(rng: random.Random) -> str:
    syllables = ["ka", "lo", "mi", "ter", "ran", "vo", "sen", "du", "pri", "mel", "tos", "gar"]
    return "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))


class Writer:
    """Questions with a filler sentence; the same generator for history and new tickets."""

    def __init__(self, seed: int) -> None:
        import numpy as np

        self.rng = random.Random(seed)
        words = list(dict.fromkeys(_word(self.rng) for _ in range(VOCABULARY * 3)))
        self.words = words[:VOCABULARY]
        weights = 1.0 / np.arange(1, len(self.words) + 1) ** 1.05
        self.cumulative = list(np.cumsum(weights / weights.sum()))

    def text(self, problem: int, german: bool, held_out: bool) -> tuple[str, str]:
        """(the problem's wording, the whole question: that wording and filler)."""
        wording = _question(self.rng, problem, german, held_out)
        k = self.rng.randint(6, 18)
        filler = self.rng.choices(self.words, cum_weights=self.cumulative, k=k)
        return wording, f"{wording} {' '.join(filler).capitalize()}."


def _percentiles(timings: list[float]) -> dict[str, float]:
    timings = sorted(timings)
    return {
        "p50": timings[len(timings) // 2],
        "p95": timings[max(int(len(timings) * 0.95) - 1, 0)],
    }


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    """This process's peak resident size (VmHWM: unlike ru_maxrss, not the parent's
    size carried over the fork that started it)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def _words_only() -> Iterator[None]:
    """As on a machine without the sentence model: its loader reports it unavailable."""
    from deskmail.suggest import encoder

    loaded = encoder.get()
    encoder._loaded, encoder._failed = None, True
    try:
        yield
    finally:
        encoder._loaded, encoder._failed = loaded, False


def _history(writer: Writer, mailbox: Any, first: int, count: int, status: str) -> list[Any]:
    """`count` tickets numbered from `first`, each with its question and, when resolved,
    its answer; returns [(ticket, problem, german)]."""
    from django.utils import timezone

    from deskmail.tickets.models import Message, Ticket

    start = timezone.now() - dt.timedelta(days=365)
    tickets = Ticket.objects.bulk_create(
        Ticket(
            number=first + n,
            mailbox=mailbox,
            title="Question",
            status=status,
            first_mail_at=start + dt.timedelta(minutes=n),
        )
        for n in range(count)
    )
    made, messages = [], []
    for ticket in tickets:
        problem = writer.rng.randrange(len(PROBLEMS))
        german = writer.rng.random() < GERMAN_SHARE
        _, question = writer.text(problem, german, held_out=status != "resolved")
        answer = PROBLEMS[problem][5 if german else 4]
        when = ticket.first_mail_at
        messages.append(
            Message(
                ticket=ticket,
                mailbox=mailbox,
                message_id=f"q{ticket.number}@bench.example",
                body_text=question,
                reply_text=question,
                raw_sha256="0" * 64,
                received_at=when,
            )
        )
        if status == "resolved":
            messages.append(
                Message(
                    ticket=ticket,
                    mailbox=mailbox,
                    direction="out",
                    message_id=f"a{ticket.number}@bench.example",
                    body_text=answer,
                    reply_text=answer,
                    raw_sha256="0" * 64,
                    received_at=when + dt.timedelta(hours=1),
                )
            )
        made.append((ticket, problem, german))
    Message.objects.bulk_create(messages, batch_size=BULK_BATCH)
    return made


def _wording_vectors() -> dict[str, Any]:
    """The real sentence vector of each problem wording (no filler), by wording."""
    from bench.suggest_bench import FRAMES_DE, FRAMES_EN
    from deskmail.suggest import encoder

    texts = []
    for things_en, troubles_en, things_de, troubles_de, _, _ in PROBLEMS:
        for frames, things, troubles in (
            (FRAMES_EN, things_en, troubles_en),
            (FRAMES_DE, things_de, troubles_de),
        ):
            for frame in frames:
                for thing in things[:-1]:
                    for trouble in troubles[:-1]:
                        text = frame.format(thing=thing, trouble=trouble)
                        texts.append(text[0].upper() + text[1:])
    model = encoder.get()
    assert model is not None
    return dict(zip(texts, model.encode(texts), strict=True))


def _insert(model: Any, like: Any, varying: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Rows of `model` by the driver directly: each as `like`, but for the `varying`
    fields (with the primary key first). The ORM's bulk insert prepares every value of
    every row in Python, which for some two million rows takes minutes by itself."""
    from django.db import connection

    fields = {f.attname: f for f in model._meta.concrete_fields}
    base = {
        name: field.get_db_prep_save(field.pre_save(like, True), connection)
        for name, field in fields.items()
    }
    names = [*varying, *(name for name in base if name not in varying)]
    columns = ", ".join(connection.ops.quote_name(fields[name].column) for name in names)
    rest = tuple(base[name] for name in names[len(varying) :])
    plain = (int, str, bytes)
    prepared = [
        tuple(
            v if isinstance(v, plain) else fields[name].get_db_prep_save(v, connection)
            for name, v in zip(varying, row, strict=True)
        )
        + rest
        for row in rows
    ]
    marks = ", ".join(["%s"] * len(names))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # COPY: a row-by-row insert is far slower
            with cursor.cursor.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy:
                for row in prepared:
                    copy.write_row(row)
            return
        insert = f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({marks})"  # noqa: S608
        cursor.executemany(insert, prepared)


def _bulk_pairs(writer: Writer, mailbox: Any, first: int, count: int) -> None:
    """`count` resolved tickets and their pairs, postings and vectors, written in bulk."""
    import numpy as np
    from django.core.management.color import no_style
    from django.db import connection, transaction
    from django.db.models import Max

    from deskmail.suggest import encoder
    from deskmail.suggest.models import Pair, Term
    from deskmail.suggest.text import term_counts
    from deskmail.tickets.models import Ticket

    vectors = _wording_vectors()
    jitter = np.random.default_rng(5)
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=400)

    def next_id(model: Any) -> int:
        return int(model.objects.aggregate(top=Max("id"))["top"] or 0) + 1

    ticket_id, pair_id, term_id = next_id(Ticket), next_id(Pair), next_id(Term)
    ticket_like = Ticket(mailbox=mailbox, title="Question", status="resolved", first_mail_at=now)
    pair_like = Pair(mailbox=mailbox, ticket_id=ticket_id, answer="", updated_at=now)
    term_like = Term(pair_id=pair_id, term="", count=1)
    for at in range(0, count, BULK_BATCH):
        size = min(BULK_BATCH, count - at)
        tickets, pairs, terms = [], [], []
        for n in range(size):
            problem = writer.rng.randrange(len(PROBLEMS))
            german = writer.rng.random() < GERMAN_SHARE
            wording, text = writer.text(problem, german, held_out=False)
            vector = vectors[wording] + jitter.normal(0, 0.01, encoder.DIMENSIONS)
            vector = (vector / np.linalg.norm(vector)).astype(np.float32)
            question = f"Question\n{text}"
            words = term_counts(question)
            tickets.append((ticket_id, first + at + n, start + dt.timedelta(minutes=at + n)))
            pairs.append(
                (
                    pair_id,
                    ticket_id,
                    question,
                    PROBLEMS[problem][5 if german else 4],
                    sum(words.values()),
                    encoder.to_bytes(vector),
                )
            )
            for term, times in words.items():
                terms.append((term_id, pair_id, term, times))
                term_id += 1
            ticket_id, pair_id = ticket_id + 1, pair_id + 1
        with transaction.atomic():
            _insert(Ticket, ticket_like, ["id", "number", "first_mail_at"], tickets)
            _insert(
                Pair,
                pair_like,
                ["id", "ticket_id", "question", "answer", "length", "vector"],
                pairs,
            )
            _insert(Term, term_like, ["id", "pair_id", "term", "count"], terms)
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Ticket, Pair, Term]):
            cursor.execute(sql)


def _latencies(agent: Any, new: list[tuple[Any, int, bool]]) -> dict[str, Any]:
    """for_ticket on each new ticket, fused and words only (the first call apart), and
    how often the problem's answer in the customer's language is first / among those shown."""
    from deskmail.services import suggestions
    from deskmail.suggest.models import Suggestion

    result: dict[str, Any] = {}
    for name, mode in (("fused", contextlib.nullcontext), ("words", _words_only)):
        timings: list[float] = []
        top1 = top3 = 0
        with mode():
            for ticket, problem, german in new:
                Suggestion.objects.filter(ticket=ticket).delete()
                began = time.perf_counter()
                shown = suggestions.for_ticket(agent, ticket)
                timings.append((time.perf_counter() - began) * 1000)
                right = PROBLEMS[problem][5 if german else 4]
                texts = [s.text for s in shown]
                top1 += bool(texts) and texts[0] == right
                top3 += right in texts
        result[name] = {
            "first": timings[0],
            **_percentiles(timings[1:]),
            "top1": top1 / len(new),
            "top3": top3 / len(new),
        }
    return result


def _setup() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskmail.settings")
    django.setup()


def _analyze() -> None:
    """Planner statistics; on PostgreSQL also the visibility map its index-only scans
    need, as autovacuum keeps it on a database in use."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def _child(pairs: int) -> dict[str, Any]:
    _setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from deskmail.services import access, people, suggestions
    from deskmail.services.access import SYSTEM, Role
    from deskmail.suggest import encoder, index
    from deskmail.suggest.models import Pair
    from deskmail.testing.builders import make_mailbox
    from deskmail.tickets.models import Counter

    call_command("migrate", verbosity=0)
    load_before = os.getloadavg()[0]
    if encoder.get() is None:
        raise SystemExit("the sentence model is not installed (make install)")
    writer = Writer(17)
    north = make_mailbox("north", "NO", "north@bench.example")
    user = people.create_user(SYSTEM, "agent@bench.example", Role.AGENT, mailboxes=["north"])
    agent = access.actor_for(get_user_model().objects.get(pk=user.pk))
    sample = SAMPLE - LIVE
    _history(writer, north, 1, sample, "resolved")
    new = _history(writer, north, sample + 1, QUERIES + 1, "open")
    live = [t for t, _, _ in _history(writer, north, sample + QUERIES + 2, LIVE, "resolved")]
    # The rebuild indexes every resolved ticket so far; the live ones come after.
    live_ids = {t.pk for t in live}
    from deskmail.tickets.models import Ticket

    Ticket.objects.filter(pk__in=live_ids).update(status="open")
    began = time.perf_counter()
    for _ in suggestions.reindex(SYSTEM):
        pass
    rebuild = sample / (time.perf_counter() - began)
    Ticket.objects.filter(pk__in=live_ids).update(status="resolved")
    began = time.perf_counter()
    for ticket in live:
        index.index_ticket(ticket.pk)
    one_by_one = LIVE / (time.perf_counter() - began)
    _analyze()
    small = Pair.objects.count()
    baseline = _latencies(agent, new)
    next_number = sample + QUERIES + 2 + LIVE
    began = time.perf_counter()
    _bulk_pairs(writer, north, next_number, pairs - small)
    Counter.objects.update_or_create(name="ticket", defaults={"value": next_number + pairs})
    _analyze()
    load_s = time.perf_counter() - began
    large = Pair.objects.count()
    scaled = _latencies(agent, new)
    worker = _worker_in_child(new[0][0].pk, user.pk)
    return {
        "small": small,
        "large": large,
        "rebuild_per_s": rebuild,
        "one_by_one_per_s": one_by_one,
        "load_s": load_s,
        "baseline": baseline,
        "scaled": scaled,
        "worker": worker,
        "bench_peak_mib": _peak_mib(),
        "load_average": (load_before + os.getloadavg()[0]) / 2,
    }


def _worker_in_child(ticket_pk: int, user_pk: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.suggest_scale", "--worker", str(ticket_pk), str(user_pk)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _worker(ticket_pk: int, user_pk: int) -> dict[str, Any]:
    """A fresh process on the finished index: the model loaded, one ticket answered."""
    _setup()
    from django.contrib.auth import get_user_model

    from deskmail.services import access, suggestions
    from deskmail.suggest import encoder
    from deskmail.suggest.models import Suggestion
    from deskmail.tickets.models import Ticket

    started = _rss_mib()
    assert encoder.get() is not None
    with_model = _rss_mib()
    agent = access.actor_for(get_user_model().objects.get(pk=user_pk))
    ticket = Ticket.objects.get(pk=ticket_pk)
    Suggestion.objects.filter(ticket=ticket).delete()
    suggestions.for_ticket(agent, ticket)
    return {
        "started_mib": started,
        "model_mib": with_model,
        "answered_mib": _rss_mib(),
        "peak_mib": _peak_mib(),
    }


def _run(database: str, pairs: int) -> dict[str, Any]:
    return measure_in_child("bench.suggest_scale", [str(pairs)], database, BENCH_DB)


def run(pairs: int = PAIRS) -> str:
    results = {database: _run(database, pairs) for database in ("SQLite", "PostgreSQL")}
    lines = [
        f"## Suggested answers with {pairs:,} resolved tickets",
        "",
        "The questions of the section above with a filler sentence (Zipf-distributed words",
        f"of a {VOCABULARY:,}-word vocabulary), so the word index has real mail's long tail",
        f"and very common words. Indexing: {SAMPLE - LIVE:,} resolved tickets through the",
        f"rebuild (`deskmail suggestions reindex`'s code), then {LIVE} one at a time as on",
        "resolution (a sentence vector computed each time); pairs per second. Latency: the",
        "suggestions of one new ticket through the service the console and the API call,",
        f"over {QUERIES} new tickets, each ranking anew (stored suggestions removed first),",
        "milliseconds p50 / p95; fused (the model loaded) and words only (as without the",
        "model); *first* is the process's first call, which reads every pair's length and",
        f"vector into memory. Measured at {SAMPLE:,} pairs, then again once the history is",
        f"grown to {pairs:,} by bulk inserts (precomputed vectors: each problem wording's real",
        "vector, jittered). Hit rate: the problem's answer in the customer's language first",
        "/ among the three shown. Memory: a separate process on the full index that loads",
        "the model and answers one ticket, as a console or worker process does. No vector",
        "index is used: pgvector and sqlite-vec are not installable here; vectors are",
        "searched by one matrix product in memory.",
        "",
        "| database | pairs | rebuild | on resolution | fused p50 / p95 (first) | hits "
        "| words only p50 / p95 (first) | hits |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for database, result in results.items():
        if "error" in result:
            lines.append(f"| {database} | not measured: {result['error']} | | | | | | |")
            continue
        for size, key in (("small", "baseline"), ("large", "scaled")):
            fused, words = result[key]["fused"], result[key]["words"]
            rebuild, one = result["rebuild_per_s"], result["one_by_one_per_s"]
            indexing = (
                f"{rebuild:,.0f} pairs/s | {one:,.0f} pairs/s" if key == "baseline" else " | "
            )
            lines.append(
                f"| {database} | {result[size]:,} | {indexing} "
                f"| {fused['p50']:.0f} / {fused['p95']:.0f} ({fused['first']:,.0f}) ms "
                f"| {fused['top1']:.2f} / {fused['top3']:.2f} "
                f"| {words['p50']:.0f} / {words['p95']:.0f} ({words['first']:,.0f}) ms "
                f"| {words['top1']:.2f} / {words['top3']:.2f} |"
            )
    lines += [
        "",
        "| database | bulk load to full size | worker: started / model loaded / after one "
        "ticket / peak | load average during the run |",
        "|---|---:|---:|---:|",
    ]
    for database, result in results.items():
        if "error" in result:
            continue
        w = result["worker"]
        lines.append(
            f"| {database} | {result['load_s']:.0f} s | {w['started_mib']:.0f} / "
            f"{w['model_mib']:.0f} / {w['answered_mib']:.0f} / {w['peak_mib']:.0f} MiB "
            f"| {result['load_average']:.1f} |"
        )
    lines += [
        "",
        "Where a fused ranking's time went at 100,000 pairs, profiled once on SQLite with",
        "other jobs sharing the cores: encoding the question with the sentence model",
        "(50-140 ms; the same at any index size), the matrix product over the vectors",
        "(20-90 ms: it reads 150 MiB), and the word ranking (30-70 ms: word frequencies",
        "counted up to 10,001, at most 10,000 postings of the rarest words read from the",
        "word index, the best 100 rescored with their counts). Before the vectors were kept",
        "in memory, one question's word ranking took 3-10 s and its vector ranking",
        "1.4-4.5 s (every vector read from the database, BM25 summed over a join with the",
        "pairs). The load average column says how busy the machine was: figures measured",
        "beside other jobs are 2-3x slower. Top-1 hits fall at",
        "100,000 pairs because the generated filler words are noise: a rare one shared by",
        "chance puts an unrelated pair first in the word ranking, level with the vector",
        "ranking's first in the fusion; the top three still hold the answer as often.",
        "The word ranking alone, checked on 30 of these tickets against the former one",
        "(every posting scored in SQL): top-1 / top-3 0.43 / 0.73 against 0.47 / 0.70.",
    ]
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(_child(int(sys.argv[2]))))
    elif sys.argv[1:2] == ["--worker"]:
        print(json.dumps(_worker(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        print(run(int(sys.argv[1]) if len(sys.argv) > 1 else PAIRS))
