"""The endpoint Microsoft Graph posts change notifications and lifecycle events to.

Graph first checks it with the validation handshake: a POST with
`?validationToken=...`, answered within ten seconds with the token, decoded, as
`text/plain` (learn.microsoft.com/graph/change-notifications-delivery-webhooks,
"notificationUrl validation"). Every notification after that is answered 202 at
once; it only wakes the mailbox's sync (`store.receive`). Graph sends no
credentials: a notification counts only when its `clientState` is the secret the
subscription was made with.
"""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from deskmail.msgraph.store import receive

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def notifications(request: HttpRequest) -> HttpResponse:
    token = request.GET.get("validationToken")
    if token is not None:
        return HttpResponse(token, content_type="text/plain; charset=utf-8")
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return HttpResponseBadRequest("not JSON", content_type="text/plain")
    entries = body.get("value") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        return HttpResponseBadRequest("no value list", content_type="text/plain")
    for entry in entries:
        if isinstance(entry, dict):
            log.debug("graph notification: %s", receive(entry))
    return HttpResponse(status=202)
