"""Live updates: Server-Sent Events from the event log, for what the person may see.

An async view under the ASGI server (`deskmail serve` runs uvicorn): it sends
the events after the cursor (the `after` parameter, or the Last-Event-ID the
browser sends when it reconnects), then waits for the log to grow (see
services.live.Wakeup) and sends what is new. A stream ends after a while; the
browser reconnects by itself and misses nothing, since it names the last id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from deskmail.console.http import not_signed_in
from deskmail.events import log
from deskmail.services import access, live
from deskmail.services.access import Actor
from deskmail.services.errors import NotFound

KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 600.0


def _cursor(request: HttpRequest) -> int | None:
    for value in (request.headers.get("Last-Event-ID"), request.GET.get("after")):
        if value and value.isdigit():
            return int(value)
    return None


async def _stream(actor: Actor, cursor: int) -> AsyncIterator[str]:
    wakeup = live.wakeup()
    wakeup.subscribers += 1
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_SECONDS
    try:
        yield f"retry: 2000\nid: {cursor}\n\n"
        while loop.time() < ends:
            events = await sync_to_async(live.visible)(actor, cursor)
            for event in events:
                cursor = event["id"]
                yield f"id: {cursor}\nevent: deskmail\ndata: {json.dumps(event)}\n\n"
            if events and len(events) >= 100:
                continue  # more are waiting
            if not await wakeup.wait(KEEPALIVE_SECONDS):
                yield ": still here\n\n"
    finally:
        wakeup.subscribers -= 1


@require_GET
async def events(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    user = await request.auser()
    try:
        actor = await sync_to_async(access.actor_for)(user)
    except NotFound:
        return not_signed_in(request)
    cursor = _cursor(request)
    if cursor is None:
        cursor = await sync_to_async(log.latest)()
    response = StreamingHttpResponse(_stream(actor, cursor), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-store"
    response["X-Accel-Buffering"] = "no"  # proxies: pass every event on at once
    return response
