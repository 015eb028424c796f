"""`Idempotency-Key` on POST: a retried request creates nothing twice.

The key (with the person, and a fingerprint of the request) is written in the
same database transaction as the request's own effects, and the response is
stored in it before the commit:

- the first request inserts the key, runs, stores its response and commits;
- a retry finds the key and gets the stored response again (with
  `Idempotent-Replayed: true`), whatever happened to the first answer on its
  way back;
- a retry that arrives while the first still runs waits on the key's unique
  index (PostgreSQL) or on the write lock (SQLite) and then gets the stored
  response;
- a request that failed (5xx) or was refused for now (409, 429) is rolled back
  whole, key included, so retrying it really tries again;
- a response that carries a secret shown once (a new token, marked
  `Cache-Control: no-store`) is not kept: a retry is told (409) that the first
  request succeeded, and creates nothing.

A key is kept for a day per person. The same key with a different request
(method, path, body) is refused with 422.

An operation that waits on another server (a model's rewrite, for seconds) must not
hold a transaction open meanwhile: on SQLite that would keep every other writer,
the worker's mail included, waiting. Its key is claimed in a short transaction of
its own instead, the operation runs, and the response is stored after it: a retry
meanwhile is told (409, `Retry-After`) that the first still runs, and a claim whose
request never finished (its process died) is free again after ten minutes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from functools import partial, wraps
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone

from deskmail.api.auth import principal
from deskmail.api.models import IdempotentRequest
from deskmail.api.problems import problem

HEADER = "Idempotency-Key"
KEEP = dt.timedelta(days=1)
MAX_LENGTH = 255
# Answers that say "not now": never stored, so a retry runs again.
NOT_STORED = {409, 429}
# Operations (by URL name) that wait on another server: run outside the key's transaction.
OUTSIDE_TRANSACTION = frozenset({"rewrite_suggestion"})
ABANDONED = dt.timedelta(minutes=10)


def fingerprint(request: HttpRequest) -> str:
    """The request's method, path, content type and body (multipart by its fields and files)."""
    digest = hashlib.sha256()
    content_type = request.content_type or ""
    digest.update(f"{request.method}\n{request.get_full_path()}\n{content_type}\n".encode())
    if content_type.startswith("multipart/"):
        for name in sorted(request.POST):
            for value in request.POST.getlist(name):
                digest.update(f"field {name}={value}\n".encode())
        for name in sorted(request.FILES):
            for upload in request.FILES.getlist(name):
                content = hashlib.sha256()
                for chunk in upload.chunks():
                    content.update(chunk)
                upload.seek(0)
                digest.update(f"file {name}={upload.name}:{content.hexdigest()}\n".encode())
    else:
        digest.update(request.body)
    return digest.hexdigest()


def _valid(key: str) -> bool:
    return 0 < len(key) <= MAX_LENGTH and all(" " <= ch <= "~" for ch in key)


def _replay(row: IdempotentRequest, fingerprint_now: str) -> HttpResponse:
    if row.fingerprint != fingerprint_now:
        return problem(
            422,
            "this Idempotency-Key was used for a different request; use a new key",
            field=HEADER,
        )
    if row.withheld:
        return problem(
            409,
            "the first request with this Idempotency-Key succeeded; its answer held a secret "
            "that is shown only once and was not kept (list the resources to find it)",
            field=HEADER,
        )
    response = HttpResponse(
        bytes(row.body), status=row.status_code, content_type=row.content_type or None
    )
    if row.location:
        response["Location"] = row.location
    response["Idempotent-Replayed"] = "true"
    return response


def once(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap an operation so that a POST with an Idempotency-Key takes effect once."""

    @wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = request.headers.get(HEADER)
        found = principal(request)
        if request.method != "POST" or key is None or found is None:
            return run(request, *args, **kwargs)
        if not _valid(key):
            return problem(
                422,
                f"an Idempotency-Key is 1 to {MAX_LENGTH} printable ASCII characters",
                field=HEADER,
            )
        try:
            mark = fingerprint(request)
        except MultiPartParserError as exc:
            return problem(400, f"the multipart form cannot be read: {exc}")
        call = partial(run, request, *args, **kwargs)
        match = request.resolver_match
        if match is not None and match.url_name in OUTSIDE_TRANSACTION:
            return _claimed(call, found.user, key, mark)
        return _in_transaction(call, found.user, key, mark)

    return wrapper


def _in_transaction(
    call: Callable[[], HttpResponse], user: Any, key: str, mark: str
) -> HttpResponse:
    """The key, the operation's effects and its response, committed together."""
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = IdempotentRequest.objects.create(user=user, key=key, fingerprint=mark)
        except IntegrityError:
            return _replay(IdempotentRequest.objects.get(user=user, key=key), mark)
        response = call()
        if not _kept(response):
            transaction.set_rollback(True)
            return response
        _store(row, response)
        IdempotentRequest.objects.filter(user=user, created_at__lt=now - KEEP).delete()
    return response


def _claimed(call: Callable[[], HttpResponse], user: Any, key: str, mark: str) -> HttpResponse:
    """The key claimed first, the operation run outside any transaction, its response after."""
    now = timezone.now()
    with transaction.atomic():
        row, created = IdempotentRequest.objects.get_or_create(
            user=user, key=key, defaults={"fingerprint": mark}
        )
        if not created:
            if row.status_code or row.fingerprint != mark:
                return _replay(row, mark)
            if row.created_at > now - ABANDONED:
                return problem(
                    409,
                    "the first request with this Idempotency-Key is still running; "
                    "try again in a moment",
                    field=HEADER,
                    headers={"Retry-After": "2"},
                )
            row.created_at = now  # its request never finished: this one takes it over
            row.save(update_fields=["created_at"])
    try:
        response = call()
    except BaseException:
        IdempotentRequest.objects.filter(pk=row.pk).delete()
        raise
    if not _kept(response):
        IdempotentRequest.objects.filter(pk=row.pk).delete()
        return response
    _store(row, response)
    return response


def _kept(response: HttpResponse) -> bool:
    """Whether a retry gets this response again; failures and "not now" run again."""
    return response.status_code < 500 and response.status_code not in NOT_STORED


def _store(row: IdempotentRequest, response: HttpResponse) -> None:
    row.status_code = response.status_code
    row.content_type = response.get("Content-Type", "")
    row.location = response.get("Location", "")
    row.withheld = "no-store" in response.get("Cache-Control", "")
    row.body = b"" if row.withheld else response.content
    row.save(update_fields=["status_code", "content_type", "location", "withheld", "body"])
