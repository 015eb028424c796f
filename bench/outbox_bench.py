"""Outbox benchmark: replies queued, then sent by `send_due()` through the local Postfix.

Each run is a child process on a fresh database (a new SQLite data folder, or
a PostgreSQL database `deskmail_outbox_bench` created anew) with its own
Dovecot and Postfix (started by `deskmail.testing.MailServers`; needs root).
It ingests the customers' mails, queues 10 replies per ticket with
`queue_reply` (composed, rendered, stored: the agent's side), then calls
`send_due()` as the worker does until the outbox is empty (Postfix has
accepted every mail: the outbox's throughput), and finally waits until
Dovecot holds every mail in the customers' mailboxes (end to end).

    python -m bench.outbox_bench [COUNT]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COUNT = 1000
PER_TICKET = 10
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
BENCH_DB = "deskmail_outbox_bench"
RUNS = (("SQLite", "smtp"), ("SQLite", "submission"), ("PostgreSQL", "submission"))


def _child(count: int, port: str) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskmail.settings")
    django.setup()
    from django.core.management import call_command
    from django.test.utils import override_settings

    from deskmail.ingest.api import ingest
    from deskmail.outbound.models import OutboxItem
    from deskmail.outbound.queue import queue_reply
    from deskmail.outbound.send import send_due
    from deskmail.testing.builders import make_email, make_mailbox
    from deskmail.testing.mailservers import MailServers

    call_command("migrate", verbosity=0)
    with MailServers(pool_size=256) as servers, override_settings(CA_FILE=servers.cafile):
        desk = servers.new_account()
        customers = [servers.new_account() for _ in range(max(count // PER_TICKET, 1))]
        security = {"smtp": "none", "submission": "starttls"}[port]
        mailbox = make_mailbox(
            "bench",
            "BEN",
            desk.address,
            display_name="Bench Support",
            outbound={
                "host": servers.host,
                "port": servers.ports[port],
                "security": security,
                "username": desk.address if port == "submission" else None,
            },
            filters={"sender_rate_limit": None},
        )
        mailbox.outbound_secret = desk.password
        mailbox.save()
        tickets = [
            ingest(
                mailbox, make_email(sender=c.address, to=desk.address, subject=f"Case {n}")
            ).ticket
            for n, c in enumerate(customers)
        ]
        started = time.perf_counter()
        queued = 0
        for round_ in range(PER_TICKET):
            for ticket in tickets:
                if queued < count:
                    queue_reply(ticket, body_text=f"Answer {round_} on case {ticket.number}.")
                    queued += 1
        queue_s = time.perf_counter() - started

        started = time.perf_counter()
        sent = calls = 0
        while OutboxItem.objects.filter(status="pending").exists():
            report = send_due()
            calls += 1
            sent += report.sent
            if report.deferred or report.failed:
                raise RuntimeError(f"send_due could not send: {report.errors[:3]}")
        send_s = time.perf_counter() - started

        deadline = time.monotonic() + 600
        expected = {c.address: 0 for c in customers}
        for item in OutboxItem.objects.select_related("outgoing"):
            expected[item.outgoing.to[0]] += 1
        while True:
            delivered = sum(min(_count(servers, c), expected[c.address]) for c in customers)
            if delivered >= sent or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        delivered_s = time.perf_counter() - started
    return {
        "count": queued,
        "sent": sent,
        "delivered": delivered,
        "calls": calls,
        "queue_s": queue_s,
        "send_s": send_s,
        "delivered_s": delivered_s,
    }


def _count(servers: Any, account: Any) -> int:
    with servers.imap(account) as client:
        return int(client.select_folder("INBOX", readonly=True)[b"EXISTS"])


def _postgres_url() -> str | None:
    try:
        import psycopg

        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
            conn.execute(f"CREATE DATABASE {BENCH_DB}")
    except Exception:  # noqa: BLE001 - reported as a skipped row
        return None
    return f"{POSTGRES}/{BENCH_DB}"


def _run(database: str, port: str, count: int) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="deskmail-outbox-bench-"))
    env = {**os.environ, "DESKMAIL_DATA_DIR": str(data), "DESKMAIL_LOG_LEVEL": "ERROR"}
    env.pop("DATABASE_URL", None)
    if database == "PostgreSQL":
        url = _postgres_url()
        if url is None:
            return {"error": f"PostgreSQL at {POSTGRES} unreachable"}
        env["DATABASE_URL"] = url
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.outbox_bench", "--child", str(count), port],
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
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(count: int = COUNT) -> str:
    lines = [
        "## Outbox: sending replies through the local Postfix",
        "",
        f"{count} replies ({PER_TICKET} per ticket) queued with `queue_reply`, then sent by",
        "`send_due()` (batches of 100, one SMTP connection per batch) to Postfix on",
        "loopback, which delivers them into Dovecot over LMTP. *Sent* ends when Postfix",
        "has accepted the last mail; *delivered* when Dovecot holds them all.",
        "",
    ]
    if os.geteuid() != 0 or shutil.which("dovecot") is None:
        return "\n".join([*lines, "Not measured: needs root, Dovecot and Postfix.", ""])
    lines += [
        "| database | SMTP | queued/s | sent/s (outbox) | delivered/s (end to end) |",
        "|---|---|---:|---:|---:|",
    ]
    for database, port in RUNS:
        result = _run(database, port, count)
        smtp = {"smtp": "plain :25", "submission": "STARTTLS + AUTH :587"}[port]
        if "error" in result:
            lines.append(f"| {database} | {smtp} | not measured: {result['error']} | | |")
            continue
        queued = result["count"] / result["queue_s"]
        sent = result["sent"] / result["send_s"]
        delivered = result["delivered"] / result["delivered_s"]
        lines.append(
            f"| {database} | {smtp} | {queued:,.0f} | {sent:,.0f} | {delivered:,.0f} "
            f"({result['delivered']}/{result['sent']}) |"
        )
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(int(sys.argv[2]), sys.argv[3])))
    else:
        print(run(int(sys.argv[1]) if len(sys.argv) > 1 else COUNT))
