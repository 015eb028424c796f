"""Live updates for open consoles: the event log after a cursor, kept to what a person may
see, and a wake-up when the log grows.

Streams do not poll the database each: one `Wakeup` per event loop (per server
process) waits for the log to grow and wakes every stream of that process. On
PostgreSQL it LISTENs on the channel the log NOTIFYs at each commit, so a
stream wakes at once; elsewhere (SQLite) it looks at the newest event id twice
a second. The same task runs the handover housekeeping (transfers and snoozes
that are due) every half minute while any console is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import string
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections

from deskmail.core.listening import connection_kwargs
from deskmail.events import log
from deskmail.events.models import Event
from deskmail.mailboxes.models import Mailbox
from deskmail.services.access import Actor
from deskmail.tickets.models import Ticket

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
HOUSEKEEPING_SECONDS = 30.0


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def notification(mailbox: Mailbox, event: Event, queue: str = "") -> dict[str, Any]:
    """The words, sound and shake of a new-mail notification, by the mailbox's settings."""
    console = mailbox.settings.console
    values = _Blank(
        source=mailbox.name,
        sender=str(event.data.get("sender") or ""),
        queue=queue,
        subject=str(event.data.get("subject") or ""),
    )
    text = string.Formatter().vformat(console.notify_template, (), values)
    return {"text": text, "sound": console.notify_sound, "shake": console.notify_shake}


def visible(actor: Actor, cursor: int, limit: int = 100) -> list[dict[str, Any]]:
    """The events after cursor that the actor may see, shaped for the browser."""
    mailbox_ids = None if actor.is_admin else actor.mailbox_ids
    events = log.after(cursor, mailbox_ids=mailbox_ids, limit=limit)
    boxes: dict[int, Mailbox] = {}
    shaped = []
    for event in events:
        item: dict[str, Any] = {
            "id": event.id,
            "kind": event.kind,
            "ticket": event.ticket_number,
            "mailbox": event.mailbox_id,
        }
        if event.kind == Event.Kind.MESSAGE_RECEIVED and event.mailbox_id is not None:
            if event.mailbox_id not in boxes:
                found = Mailbox.objects.filter(pk=event.mailbox_id).first()
                if found is None:
                    shaped.append(item)
                    continue
                boxes[event.mailbox_id] = found
            queue = (
                Ticket.objects.filter(pk=event.ticket_id)
                .values_list("queue__name", flat=True)
                .first()
                if event.ticket_id
                else None
            )
            item["new_mail"] = True
            item["notify"] = notification(boxes[event.mailbox_id], event, queue or "")
        elif event.kind == Event.Kind.NOTE_CREATED and actor.user_id in event.data.get(
            "mentions", []
        ):
            author = event.data.get("author", "A colleague")
            item["notify"] = {
                "text": f"{author} mentioned you on #{event.ticket_number}",
                "sound": True,
                "shake": False,
            }
        shaped.append(item)
    return shaped


class Wakeup:
    """Wakes the streams of one event loop when the event log grows."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.subscribers = 0

    def _wake(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        """True when the log grew within timeout seconds."""
        event = self._event
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
            return True
        return False

    async def _watch(self) -> None:
        try:
            if connections["default"].vendor == "postgresql":
                await self._listen()
            else:
                await self._poll()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a lost listener falls back to polling
            logger.exception("live updates: listening failed; polling instead")
            await self._poll()

    async def _housekeeping(self, last: float) -> float:
        loop = asyncio.get_running_loop()
        if loop.time() - last < HOUSEKEEPING_SECONDS:
            return last
        from deskmail.services.handover import housekeeping

        try:
            await sync_to_async(housekeeping)()
        except Exception:  # noqa: BLE001 - the next round tries again
            logger.exception("handover housekeeping failed")
        return loop.time()

    async def _poll(self) -> None:
        newest = await sync_to_async(log.latest)()
        last_housekeeping = 0.0
        while self.subscribers > 0:
            await asyncio.sleep(POLL_SECONDS)
            now = await sync_to_async(log.latest)()
            if now != newest:
                newest = now
                self._wake()
            last_housekeeping = await self._housekeeping(last_housekeeping)

    async def _listen(self) -> None:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(**connection_kwargs())
        last_housekeeping = 0.0
        try:
            await conn.execute(f"LISTEN {log.CHANNEL}")
            while self.subscribers > 0:
                async for _ in conn.notifies(timeout=5.0):
                    self._wake()
                    break
                last_housekeeping = await self._housekeeping(last_housekeeping)
        finally:
            await conn.close()


_wakeups: dict[int, Wakeup] = {}


def wakeup() -> Wakeup:
    """The Wakeup of the running event loop."""
    loop = asyncio.get_running_loop()
    found = _wakeups.get(id(loop))
    if found is None:
        found = _wakeups[id(loop)] = Wakeup()
    return found
