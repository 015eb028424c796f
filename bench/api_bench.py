"""API benchmark: ticket lists and reply creation over HTTP, requests per second and p95.

Each run serves deskmail with `deskmail serve` (uvicorn, one process) on a
fresh database (a new SQLite data folder, or a PostgreSQL database
`deskmail_api_bench` created anew) holding generated tickets, and drives it
from this process with CLIENTS threads, each on its own keep-alive
connection and its own personal access token (an agent of the mailbox):

- *ticket list*: `GET /api/v1/tickets?limit=50`, the first page and pages
  further on by cursor, each a full page of 50 tickets;
- *reply creation*: `POST /api/v1/tickets/{number}/replies` with a JSON body
  and a fresh Idempotency-Key, to random tickets: the reply is rendered,
  stored and queued in the outbox (never sent: the mailbox's SMTP server
  is not reachable, and no worker runs).

Every request passes the token lookup, the rate limit's database counter
(set high enough not to refuse) and, for replies, the idempotency record.

    python -m bench.api_bench [TICKETS]
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

TICKETS = 2000
CLIENTS = 4
LIST_REQUESTS = 1200
REPLY_REQUESTS = 600
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
BENCH_DB = "deskmail_api_bench"
REPOSITORY = Path(__file__).resolve().parent.parent


def _setup(tickets: int) -> dict[str, Any]:
    """In a fresh database: a mailbox, agents with tokens, `tickets` customer tickets."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskmail.settings")
    django.setup()
    from django.core.management import call_command

    from deskmail.ingest.api import ingest
    from deskmail.services import people
    from deskmail.services import tokens as access_tokens
    from deskmail.services.access import SYSTEM, Role
    from deskmail.testing.builders import make_email, make_mailbox

    call_command("migrate", verbosity=0)
    mailbox = make_mailbox(
        "bench",
        "BEN",
        "support@bench.example",
        outbound={"host": "127.0.0.1", "port": 9, "security": "none"},
        filters={"sender_rate_limit": None},
    )
    rng = random.Random(7)
    numbers = []
    for n in range(tickets):
        customer = f"customer{n % 500}@shop{n % 37}.example"
        raw = make_email(
            sender=f"Customer {n} <{customer}>",
            to=mailbox.address,
            subject=f"Order {1000 + n}: {rng.choice(['late', 'broken', 'missing', 'refund'])}",
            body=f"Hello,\n\nmy order {1000 + n} has a problem.\n\nThanks\n" * 3,
        )
        result = ingest(mailbox, raw)
        assert result.ticket is not None
        numbers.append(result.ticket.number)
    tokens = []
    for n in range(CLIENTS):
        user = people.create_user(
            SYSTEM, f"agent{n}@bench.example", Role.AGENT, mailboxes=["bench"]
        )
        tokens.append(access_tokens.create(SYSTEM, user, name="bench")[1])
    return {"numbers": numbers, "tokens": tokens}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _postgres_url() -> str | None:
    try:
        import psycopg

        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
            conn.execute(f"CREATE DATABASE {BENCH_DB}")
    except Exception:  # noqa: BLE001 - reported as a row not measured
        return None
    return f"{POSTGRES}/{BENCH_DB}"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


class _Client:
    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
            headers["Idempotency-Key"] = uuid.uuid4().hex
        self.connection.request(method, path, body=data, headers=headers)
        answer = self.connection.getresponse()
        return answer.status, answer.read()


def _load(
    port: int, tokens: list[str], total: int, request: Any, expect: int
) -> tuple[float, list[float]]:
    """`total` requests from len(tokens) threads: (wall seconds, each request's latency)."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    share = total // len(tokens)

    def worker(token: str, seed: int) -> None:
        client = _Client(port, token)
        rng = random.Random(seed)
        mine = []
        for _ in range(share):
            started = time.perf_counter()
            status, body = request(client, rng)
            mine.append(time.perf_counter() - started)
            if status != expect:
                failures.append(f"{status} {body[:200]!r}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(token, n)) for n, token in enumerate(tokens)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return wall, latencies


def _measure(database: str, tickets: int) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="deskmail-api-bench-"))
    env = {
        **os.environ,
        "DESKMAIL_DATA_DIR": str(data),
        "DESKMAIL_LOG_LEVEL": "ERROR",
        "DESKMAIL_API_RATE_LIMIT": "1000000",
    }
    env.pop("DATABASE_URL", None)
    if database == "PostgreSQL":
        url = _postgres_url()
        if url is None:
            return {"error": f"PostgreSQL at {POSTGRES} unreachable"}
        env["DATABASE_URL"] = url
    server = None
    try:
        setup = subprocess.run(
            [sys.executable, "-m", "bench.api_bench", "--setup", str(tickets)],
            env=env, cwd=REPOSITORY, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if setup.returncode != 0:
            return {"error": (setup.stderr.strip().splitlines() or ["setup failed"])[-1]}
        made = json.loads(setup.stdout.strip().splitlines()[-1])
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "deskmail.cli", "serve", "--port", str(port)],
            env=env, cwd=REPOSITORY, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_until_serving(port, server)
        numbers, tokens = made["numbers"], made["tokens"]
        cursors = _cursors(port, tokens[0])

        def listing(client: _Client, rng: random.Random) -> tuple[int, bytes]:
            cursor = rng.choice(cursors)
            return client.call(
                "GET", "/api/v1/tickets?limit=50" + (f"&cursor={cursor}" if cursor else "")
            )

        def replying(client: _Client, rng: random.Random) -> tuple[int, bytes]:
            number = rng.choice(numbers)
            return client.call(
                "POST",
                f"/api/v1/tickets/{number}/replies",
                {"body_text": f"Thanks, we are on it ({rng.random():.6f})."},
            )

        _load(port, tokens, 40, listing, 200)  # warm up: connections, caches
        results: dict[str, Any] = {}
        for name, request, count, expect in (
            ("list", listing, LIST_REQUESTS, 200),
            ("reply", replying, REPLY_REQUESTS, 201),
        ):
            wall, latencies = _load(port, tokens, count, request, expect)
            results[name] = {
                "requests": len(latencies),
                "per_second": len(latencies) / wall,
                "p50_ms": statistics.median(latencies) * 1000,
                "p95_ms": _percentile(latencies, 0.95) * 1000,
            }
        return results
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(data, ignore_errors=True)


def _wait_until_serving(port: int, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"deskmail serve exited with {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/openapi.json")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"deskmail serve did not answer within {timeout:.0f} s")


def _cursors(port: int, token: str) -> list[str | None]:
    """The cursors of the first ten pages: lists start at page 1 and go up to page 10."""
    client = _Client(port, token)
    cursors: list[str | None] = [None]
    while len(cursors) < 10:
        path = "/api/v1/tickets?limit=50" + (f"&cursor={cursors[-1]}" if cursors[-1] else "")
        status, body = client.call("GET", path)
        following = json.loads(body)["next_cursor"] if status == 200 else None
        if following is None:
            break
        cursors.append(following)
    return cursors


def run(tickets: int = TICKETS) -> str:
    lines = [
        "## API: ticket lists and replies over HTTP",
        "",
        f"`deskmail serve` (uvicorn, one process) with {tickets:,} generated tickets, driven",
        f"by {CLIENTS} client threads on keep-alive connections, each with its own token.",
        f"*List*: {LIST_REQUESTS:,} `GET /api/v1/tickets?limit=50` (pages 1 to 10 by cursor).",
        f"*Reply*: {REPLY_REQUESTS:,} `POST /api/v1/tickets/{{number}}/replies` (JSON, with an",
        "Idempotency-Key), each rendered, stored and queued in the outbox. Latencies are",
        "measured by the client, from sending the request to the last byte of the answer",
        f"(load average at the start: {os.getloadavg()[0]:.1f}; the machine is shared, so",
        "compare the rows of one run).",
        "",
        "| database | request | requests/s | p50 | p95 |",
        "|---|---|---:|---:|---:|",
    ]
    for database in ("SQLite", "PostgreSQL"):
        print(f"api bench: {database} ...", file=sys.stderr, flush=True)
        try:
            result = _measure(database, tickets)
        except Exception as exc:  # noqa: BLE001 - one run failing must not hide the other
            result = {"error": f"{type(exc).__name__}: {exc}"}
        if "error" in result:
            lines.append(f"| {database} | not measured: {result['error']} | | | |")
            continue
        for name, label in (("list", "ticket list (50 per page)"), ("reply", "reply creation")):
            row = result[name]
            lines.append(
                f"| {database} | {label} | {row['per_second']:,.0f} | "
                f"{row['p50_ms']:,.1f} ms | {row['p95_ms']:,.1f} ms |"
            )
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--setup":
        print(json.dumps(_setup(int(sys.argv[2]))))
    else:
        print(run(int(sys.argv[1]) if len(sys.argv) > 1 else TICKETS))
