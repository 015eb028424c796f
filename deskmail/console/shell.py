"""What every signed-in page shows around its content: the views with their counts,
the mailboxes, the team pages for supervisors, and a banner while the email channel
is switched off."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

from deskmail.console.forms.lists import VIEW_LABELS
from deskmail.console.http import ConsoleRequest
from deskmail.events import log
from deskmail.services import access, channel, queries

# Counts change only with an event; cached per person and newest event, briefly.
COUNTS_SECONDS = 30


def _counts(request: ConsoleRequest, cursor: int) -> dict[str, int]:
    actor = request.actor
    key = f"deskmail:console:counts:{actor.user_id}:{cursor}"
    found: dict[str, int] | None = cache.get(key)
    if found is None:
        found = queries.counts(actor)
        cache.set(key, found, COUNTS_SECONDS)
    return found


def shell(request: ConsoleRequest, current_view: str | None = None) -> dict[str, Any]:
    actor = request.actor
    cursor = log.latest()
    counts = _counts(request, cursor)
    unread = queries.unread_counts(actor)
    return {
        "nav_views": [
            {
                "name": name,
                "label": VIEW_LABELS[name],
                "count": counts[name],
                "unread": unread.get(name, 0),
                "current": name == current_view,
            }
            for name in queries.VIEWS
        ],
        "nav_mailboxes": list(access.mailboxes(actor).only("name", "key")),
        "nav_supervises": actor.is_admin or bool(actor.supervises),
        "channel_off": channel.banner(),
        # Live updates start after what this page shows.
        "events_cursor": cursor,
    }
