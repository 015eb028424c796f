"""Suggested answers: latency and hit rate of the BM25 index against a plain LIKE scan.

Each run is a child process on a fresh database (a new SQLite data folder, or a
PostgreSQL database `deskmail_suggest_bench` created anew). PAIRS resolved
tickets are written in bulk across PROBLEMS recurring problems: each customer
asks with a few of the problem's words among everyday noise words, and the
agent's reply that resolved it is the problem's answer. `deskmail suggestions
reindex`'s code builds the index (pairs per second). Then an agent asks for
suggestions on QUERIES new tickets (held out: never indexed), through the
service the console and the API use, and the same questions go to a baseline:
the pairs whose question contains any of the question's words (SQL LIKE), newest
first. p50 / p95 in milliseconds, and how often the right answer is first, or
among the three shown.

    python -m bench.suggest_bench [PAIRS]
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from typing import Any

from bench.children import measure_in_child

PAIRS = 5_000
PROBLEMS = 40
QUERIES = 60
BENCH_DB = "deskmail_suggest_bench"
VOCABULARY = (
    "printer toner invoice order delivery password login account refund shipping update "
    "error screen network server mail calendar meeting report export import license upgrade "
    "browser mobile laptop keyboard battery warranty contract budget router wifi cable "
    "monitor headset camera microphone backup restore folder share permission vpn token "
    "certificate domain address parcel tracking return exchange discount voucher coupon "
    "subscription renewal cancel payment card bank transfer receipt tax quote price stock "
    "size colour damaged missing broken slow crash freeze sync app install download "
    "portal profile avatar language timezone notification reminder alarm schedule shift"
).split()
NOISE = (
    "morning today yesterday urgent again still really quite little since week office "
    "colleague manager team customer client department problem issue question help"
).split()


def _question(rng: random.Random, problem: list[str]) -> str:
    words = rng.sample(problem, 4) + rng.choices(NOISE, k=6) + rng.choices(VOCABULARY, k=2)
    rng.shuffle(words)
    return "Hello, " + " ".join(words) + ". Thanks, Ann"


def _generate(pairs: int) -> dict[str, Any]:
    import datetime as dt

    from django.utils import timezone

    from deskmail.services import people
    from deskmail.services.access import SYSTEM, Role
    from deskmail.testing.builders import make_mailbox
    from deskmail.tickets.models import Counter, Message, Ticket

    rng = random.Random(11)
    problems = [rng.sample(VOCABULARY, 8) for _ in range(PROBLEMS)]
    answers = [f"Answer {n}: do {' then '.join(p[:3])}." for n, p in enumerate(problems)]
    north = make_mailbox("north", "NO", "north@bench.example")
    agent = people.create_user(SYSTEM, "agent@bench.example", Role.AGENT, mailboxes=["north"])
    start = timezone.now() - dt.timedelta(days=365)
    wanted: dict[int, int] = {}
    total = pairs + QUERIES
    tickets = Ticket.objects.bulk_create(
        Ticket(
            number=n + 1,
            mailbox=north,
            title="Question",
            status="resolved" if n < pairs else "open",
            first_mail_at=start + dt.timedelta(minutes=5 * n),
        )
        for n in range(total)
    )
    messages = []
    for n, ticket in enumerate(tickets):
        problem = rng.randrange(PROBLEMS)
        when = ticket.first_mail_at
        question = _question(rng, problems[problem])
        messages.append(
            Message(
                ticket=ticket,
                mailbox=north,
                message_id=f"q{n}@bench.example",
                body_text=question,
                reply_text=question,
                raw_sha256="0" * 64,
                received_at=when,
            )
        )
        if n < pairs:
            messages.append(
                Message(
                    ticket=ticket,
                    mailbox=north,
                    direction="out",
                    message_id=f"a{n}@bench.example",
                    body_text=answers[problem],
                    reply_text=answers[problem],
                    raw_sha256="0" * 64,
                    received_at=when + dt.timedelta(hours=1),
                )
            )
        else:
            wanted[ticket.number] = problem
    Message.objects.bulk_create(messages, batch_size=5_000)
    Counter.objects.update_or_create(name="ticket", defaults={"value": total})
    return {"agent": agent.pk, "wanted": wanted, "answers": answers}


def _percentiles(timings: list[float]) -> dict[str, float]:
    timings = sorted(timings)
    return {"p50": timings[len(timings) // 2], "p95": timings[int(len(timings) * 0.95) - 1]}


def _like(question: str) -> list[str]:
    from functools import reduce
    from operator import or_

    from django.db.models import Q

    from deskmail.suggest.models import Pair
    from deskmail.suggest.text import terms

    words = list(dict.fromkeys(terms(question)))
    if not words:
        return []
    where = reduce(or_, (Q(question__icontains=w) for w in words))
    return list(Pair.objects.filter(where).order_by("-id").values_list("answer", flat=True)[:3])


def _child(pairs: int) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskmail.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from deskmail.services import access, suggestions
    from deskmail.services.access import SYSTEM
    from deskmail.tickets.models import Ticket

    call_command("migrate", verbosity=0)
    made = _generate(pairs)
    started = time.perf_counter()
    for _ in suggestions.reindex(SYSTEM):
        pass
    index_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    agent = access.actor_for(get_user_model().objects.get(pk=made["agent"]))
    results: dict[str, dict[str, Any]] = {}
    for name in ("bm25", "like"):
        timings, top1, top3 = [], 0, 0
        for number, problem in made["wanted"].items():
            ticket = access.ticket(agent, number)
            question = suggestions.latest_question(ticket)
            assert question is not None
            began = time.perf_counter()
            if name == "bm25":
                texts = [s.text for s in suggestions.for_ticket(agent, ticket)]
            else:
                texts = _like(question.reply_text)
            timings.append((time.perf_counter() - began) * 1000)
            right = made["answers"][problem]
            top1 += bool(texts) and texts[0] == right
            top3 += right in texts
        n = len(made["wanted"])
        results[name] = {**_percentiles(timings), "top1": top1 / n, "top3": top3 / n}
    return {
        "pairs": Ticket.objects.filter(status="resolved").count(),
        "index_per_s": pairs / index_s,
        **results,
    }


def _run(database: str, pairs: int) -> dict[str, Any]:
    return measure_in_child("bench.suggest_bench", [str(pairs)], database, BENCH_DB)


def run(pairs: int = PAIRS) -> str:
    lines = [
        "## Suggested answers: BM25 index against a LIKE scan",
        "",
        f"{pairs:,} resolved tickets (written in bulk) over {PROBLEMS} recurring problems, each",
        "customer asking with four of the problem's eight words among everyday noise words;",
        "the index built by `deskmail suggestions reindex`'s code. An agent then asks for the",
        f"suggestions of {QUERIES} new tickets through the service the console and the API use",
        "(access, ranking, the three stored per person); the baseline is a plain LIKE scan over",
        "the same pairs (any of the question's words, newest first). Milliseconds per ticket,",
        "p50 / p95; hit rates: the right answer first, or among the three shown. Synthetic",
        "English questions only: a measure of speed and of the ranking's sense, not of quality",
        "on real mail.",
        "",
        "| database | indexing | BM25 p50 / p95 | BM25 top-1 / top-3 "
        "| LIKE p50 / p95 | LIKE top-1 / top-3 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for database in ("SQLite", "PostgreSQL"):
        result = _run(database, pairs)
        if "error" in result:
            lines.append(f"| {database} | not measured: {result['error']} | | | | |")
            continue
        bm25, like = result["bm25"], result["like"]
        lines.append(
            f"| {database} | {result['index_per_s']:,.0f} pairs/s "
            f"| {bm25['p50']:.1f} / {bm25['p95']:.1f} | {bm25['top1']:.2f} / {bm25['top3']:.2f} "
            f"| {like['p50']:.1f} / {like['p95']:.1f} | {like['top1']:.2f} / {like['top3']:.2f} |"
        )
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(_child(int(sys.argv[2]))))
    else:
        print(run(int(sys.argv[1]) if len(sys.argv) > 1 else PAIRS))
