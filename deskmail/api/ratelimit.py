"""A per-token rate limit: DESKMAIL_API_RATE_LIMIT requests a minute (600 by default).

Counted per token (a console session counts per person) in fixed one-minute
windows, in the database: one upsert per request, so every server process and
machine shares one count and a restart forgets nothing. Past the limit the
answer is 429 with `Retry-After`, the seconds until the next minute begins.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse

from deskmail.api.auth import principal
from deskmail.api.models import RateWindow
from deskmail.api.problems import problem

WINDOW_S = 60
# Where the time comes from (tests hold it still).
clock = time.time


def count(client: str, now: float | None = None) -> tuple[int, int]:
    """Count one request of `client`: (requests in this minute so far, seconds left in it)."""
    now = clock() if now is None else now
    minute = int(now // WINDOW_S)
    table = connection.ops.quote_name(RateWindow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (client, minute, count) VALUES (%s, %s, 1) "  # noqa: S608
            f"ON CONFLICT (client, minute) DO UPDATE SET count = {table}.count + 1 "
            "RETURNING count",
            [client, minute],
        )
        row = cursor.fetchone()
    used = int(row[0]) if row else 1
    if used == 1:
        # A new minute: the client's earlier windows are of no more use.
        RateWindow.objects.filter(client=client, minute__lt=minute).delete()
    left = max(1, math.ceil((minute + 1) * WINDOW_S - now))
    return used, left


def limited(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap an operation: answer 429 once its caller is past the limit for this minute."""

    @wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        found = principal(request)
        if found is not None:
            limit = settings.DESKMAIL_API_RATE_LIMIT
            used, left = count(found.client)
            if used > limit:
                return problem(
                    429,
                    f"more than {limit} requests in a minute with this token; "
                    f"try again in {left} s",
                    headers={"Retry-After": str(left)},
                )
        return run(request, *args, **kwargs)

    return wrapper
