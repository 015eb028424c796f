"""Routing benchmark: what the routing actions and the triggers cost per new ticket.

A mailbox with 200 triggers over 50 queues (sender domains, subject words,
patterns, priorities, tags, working hours) and a plan with a working-hours rule
and round-robin distribution among 10 agents. Each new ticket is evaluated by
the router alone (`Router.run_actions` and `run_triggers("created")`), on a
ticket not yet saved, in a fresh database, as the pipeline's route and triggers
steps do: the database work that comes with it (queues, the round-robin
position, the agents) is included; storing the ticket is not.

    python -m bench.routing_bench [COUNT]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COUNT = 2000
TRIGGERS = 200
QUEUES = 50
AGENTS = 10


def _triggers() -> list[dict[str, Any]]:
    found = []
    for n in range(TRIGGERS):
        queue = f"Queue {n % QUEUES}"
        kind = n % 5
        if kind == 0:
            when: dict[str, Any] = {"sender_domain": [f"customer{n}.example"]}
        elif kind == 1:
            when = {"subject_contains": [f"product-{n}", f"order {n}"]}
        elif kind == 2:
            when = {"subject_matches": rf"(?i)\bcase[- ]{n}\b", "hours": "inside"}
        elif kind == 3:
            when = {"priority": ["urgent"], "body_contains": [f"contract {n}"]}
        else:
            when = {"tags": [f"tag{n}"], "sender": [f"boss{n}@example.com"]}
        found.append(
            {"name": f"rule {n}", "if": when, "then": {"queue": queue, "tags": [f"tag{n + 1}"]}}
        )
    return found


def _child(count: int) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskmail.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from deskmail.routing.engine import Mail, Router
    from deskmail.services import people
    from deskmail.services.access import SYSTEM, Role
    from deskmail.testing.builders import make_mailbox
    from deskmail.tickets.models import Ticket

    call_command("migrate", verbosity=0)
    every_day = {
        day: ["08:00-20:00"]
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
    }
    mailbox = make_mailbox(
        "bench",
        "BEN",
        "bench@example.com",
        routing={
            "time_zone": "Europe/Berlin",
            "working_hours": every_day,
            "templates": [{"name": "closed", "body": "<p>Closed.</p>"}],
            "actions": [
                {"queue": "Support"},
                {"hours": {"inside": [{"distribute": "round_robin"}], "outside": []}},
            ],
            "triggers": _triggers(),
        },
    )
    for n in range(AGENTS):
        people.create_user(SYSTEM, f"agent{n}@example.com", Role.AGENT, mailboxes=["bench"])
    own = frozenset({"bench@example.com"})
    timings, plans, rules = [], [], []
    now = timezone.now()
    for n in range(count):
        ticket = Ticket(number=n + 1, mailbox=mailbox, title=f"Case {n}", first_mail_at=now)
        mail = Mail(
            sender=f"someone@customer{n % 400}.example",
            subject=f"Question about order {n % 300} (case {n % 250})",
            body="Hello,\n\nplease look at contract 3 again.\n\nRegards\n" * 5,
        )
        started = time.perf_counter()
        with transaction.atomic():
            router = Router(mailbox, ticket, mail, at=now, own=own)
            router.run_actions()
            planned = time.perf_counter()
            router.run_triggers("created")
        ended = time.perf_counter()
        timings.append(ended - started)
        plans.append(planned - started)
        rules.append(ended - planned)
    timings.sort()
    return {
        "count": count,
        "median_ms": statistics.median(timings) * 1000,
        "p95_ms": timings[int(len(timings) * 0.95)] * 1000,
        "plan_ms": statistics.median(plans) * 1000,
        "triggers_ms": statistics.median(rules) * 1000,
    }


def _run(count: int) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="deskmail-routing-bench-"))
    env = {**os.environ, "DESKMAIL_DATA_DIR": str(data), "DESKMAIL_LOG_LEVEL": "ERROR"}
    env.pop("DATABASE_URL", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.routing_bench", "--child", str(count)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent.parent,
        )
    finally:
        shutil.rmtree(data, ignore_errors=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(count: int = COUNT) -> str:
    lines = [
        "## Routing: actions and triggers per new ticket",
        "",
        f"{count} new tickets, each through a plan (queue, working-hours rule, round robin",
        f"among {AGENTS} agents) and {TRIGGERS} triggers over {QUEUES} queues, on SQLite;",
        "storing the ticket is not included. The aim is under 2 ms a ticket.",
        "",
    ]
    result = _run(count)
    if "error" in result:
        return "\n".join([*lines, f"Not measured: {result['error']}", ""])
    lines += [
        "| tickets | median, all | 95th percentile, all | median, plan | median, 200 triggers |",
        "|---:|---:|---:|---:|---:|",
        f"| {result['count']:,} | {result['median_ms']:.2f} ms | {result['p95_ms']:.2f} ms "
        f"| {result['plan_ms']:.2f} ms | {result['triggers_ms']:.2f} ms |",
        "",
        "The plan's cost is its database work: the queue, the available agents with their",
        "open tickets, and the round-robin position read and moved under its row lock.",
    ]
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(int(sys.argv[2]))))
    else:
        print(run(int(sys.argv[1]) if len(sys.argv) > 1 else COUNT))
