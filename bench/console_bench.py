"""Console benchmark: the ticket list, full-text search and the ticket view at scale.

Each run is a child process on a fresh database (a new SQLite data folder, or a
PostgreSQL database `deskmail_console_bench` created anew). The data is written
in bulk, not through the pipeline: TICKETS tickets with MESSAGES messages in
all, across two mailboxes, bodies drawn from a vocabulary so that searches hit
a realistic share of them. Then an agent of one mailbox asks, through Django's
test client (the whole server side: middleware, access, queries, templates):

- the list: the first page of "All open", and a page deep down by cursor;
- full-text search for a word in about 1 % of the messages;
- the ticket view of a ticket with ten messages.

p50 and p95 of the server time over REPEAT requests each.

    python -m bench.console_bench [TICKETS]
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from typing import Any

from bench.children import measure_in_child

TICKETS = 100_000
MESSAGES_PER_TICKET = 5
REPEAT = 40
BENCH_DB = "deskmail_console_bench"
WORDS = (
    "printer toner invoice order delivery password login account refund shipping "
    "update error screen network server mail calendar meeting report export import "
    "license upgrade browser mobile laptop keyboard battery warranty contract budget"
).split()
# Two of these per message: each in about 5 % of the messages, a pair in about 0.25 %.
TOPICS = [f"topic{n}" for n in range(40)]
RARE = "zeppelin"  # in about 1 % of the messages


def _body(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=40) + rng.sample(TOPICS, 2)
    if rng.random() < 0.01:
        words[rng.randrange(len(words))] = RARE
    rng.shuffle(words)
    return " ".join(words)


def _generate(tickets: int) -> dict[str, Any]:
    import datetime as dt

    from django.utils import timezone

    from deskmail.mailboxes.models import Membership
    from deskmail.services import people
    from deskmail.services.access import SYSTEM, Role
    from deskmail.testing.builders import make_mailbox
    from deskmail.tickets.models import Contact, Counter, Message, Ticket

    rng = random.Random(7)
    north = make_mailbox("north", "NO", "north@bench.example")
    south = make_mailbox("south", "SO", "south@bench.example")
    agent = people.create_user(SYSTEM, "agent@bench.example", Role.AGENT, mailboxes=["north"])
    assert Membership.objects.filter(user=agent).exists()
    contacts = Contact.objects.bulk_create(
        [
            Contact(address=f"customer{n}@client{n % 500}.example", name=f"Customer {n}")
            for n in range(20_000)
        ]
    )
    start = timezone.now() - dt.timedelta(days=365)
    statuses = ["new", "open", "pending", "resolved", "closed"]
    started = time.perf_counter()
    batch = 5_000
    for offset in range(0, tickets, batch):
        rows = []
        for n in range(offset, min(offset + batch, tickets)):
            when = start + dt.timedelta(minutes=5 * n)
            rows.append(
                Ticket(
                    number=n + 1,
                    mailbox=north if n % 2 == 0 else south,
                    title=f"Case {n}: {' '.join(rng.choices(WORDS, k=5))}",
                    status=rng.choice(statuses),
                    contact=contacts[n % len(contacts)],
                    first_mail_at=when,
                )
            )
        made = Ticket.objects.bulk_create(rows)
        messages = []
        for ticket in made:
            for m in range(MESSAGES_PER_TICKET):
                when = ticket.first_mail_at + dt.timedelta(hours=m)
                body = _body(rng)
                messages.append(
                    Message(
                        ticket=ticket,
                        mailbox_id=ticket.mailbox_id,
                        message_id=f"m{ticket.number}-{m}@bench.example",
                        subject=ticket.title,
                        from_address=ticket.contact.address if ticket.contact else "",
                        from_name="Customer",
                        body_text=body,
                        reply_text=body,
                        raw_sha256="0" * 64,
                        received_at=when,
                        date=when,
                    )
                )
        Message.objects.bulk_create(messages, batch_size=5_000)
    Counter.objects.update_or_create(name="ticket", defaults={"value": tickets})
    # As after a day of work: the planner's statistics (autovacuum's job) are current.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "generate_s": time.perf_counter() - started,
        "agent": agent.pk,
        "deep": tickets // 2 + 1 if (tickets // 2) % 2 == 0 else tickets // 2,
    }


def _measure(client: Any, url: str) -> dict[str, float]:
    timings = []
    for _ in range(REPEAT + 3):
        started = time.perf_counter()
        response = client.get(url)
        took = time.perf_counter() - started
        assert response.status_code == 200, (url, response.status_code)
        timings.append(took * 1000)
    timings = sorted(timings[3:])  # the first few warm the caches
    return {"p50": timings[len(timings) // 2], "p95": timings[int(len(timings) * 0.95) - 1]}


def _child(tickets: int) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskmail.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from deskmail.tickets.models import Message

    call_command("migrate", verbosity=0)
    made = _generate(tickets)
    client = Client()
    client.force_login(get_user_model().objects.get(pk=made["agent"]))
    first = client.get("/tickets/?view=open").content.decode()
    import re

    cursor = re.search(r'href="([^"]+)"[^>]*rel="next"', first)
    deep_url = cursor.group(1).replace("&amp;", "&") if cursor else "/tickets/?view=open"
    hits = Message.objects.filter(body_text__contains=RARE).count()
    return {
        **made,
        "messages": Message.objects.count(),
        "rare_hits": hits,
        "list": _measure(client, "/tickets/?view=open"),
        "list_page_2": _measure(client, deep_url),
        "list_mailbox_filter": _measure(client, "/tickets/?view=all&status=open&priority=normal"),
        "search": _measure(client, f"/tickets/?view=all&q={RARE}"),
        "search_two_words": _measure(client, "/tickets/?view=all&q=topic3+topic7"),
        "search_common": _measure(client, "/tickets/?view=all&q=printer"),
        "ticket": _measure(client, f"/t/{made['deep']}/"),
    }


def _run(database: str, tickets: int) -> dict[str, Any]:
    return measure_in_child(
        "bench.console_bench",
        [str(tickets)],
        database,
        BENCH_DB,
        DESKMAIL_ALLOWED_HOSTS="testserver",  # the test client's host name
    )


def run(tickets: int = TICKETS) -> str:
    messages = tickets * MESSAGES_PER_TICKET
    lines = [
        "## Console: ticket list, full-text search, ticket view",
        "",
        f"{tickets:,} tickets with {messages:,} messages (written in bulk) across two mailboxes;",
        "an agent of one of them asks through Django's test client, so the times are the",
        f"server's whole work (middleware, access, queries, templates). p50 / p95 of {REPEAT}",
        "requests, in milliseconds; the sidebar's counts are cached per person until the next",
        "event (at most 30 s), so after the first request they cost nothing. The",
        "aims: list and view under 100 ms, search under 300 ms (p95).",
        "",
        "| database | list (first page) | list (next page) | list, filtered "
        "| search: a word in 1 % | search: 2 words in 5 % each | search: a word in most mail "
        "| ticket view | generated in |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for database in ("SQLite", "PostgreSQL"):
        result = _run(database, tickets)
        if "error" in result:
            lines.append(f"| {database} | not measured: {result['error']} | | | | | | | |")
            continue
        cells = [
            f"{result[k]['p50']:.0f} / {result[k]['p95']:.0f}"
            for k in (
                "list",
                "list_page_2",
                "list_mailbox_filter",
                "search",
                "search_two_words",
                "search_common",
                "ticket",
            )
        ]
        lines.append(f"| {database} | {' | '.join(cells)} | {result['generate_s']:.0f} s |")
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(_child(int(sys.argv[2]))))
    else:
        print(run(int(sys.argv[1]) if len(sys.argv) > 1 else TICKETS))
