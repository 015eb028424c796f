"""Errors as RFC 9457 problem details (`application/problem+json`), naming the field.

    {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
     "detail": "no status 'done'", "field": "status",
     "errors": [{"field": "status", "detail": "no status 'done'"}]}

Every refusal of the service layer maps here: NotFound -> 404 (also for what
the person may not see), Forbidden -> 403, Invalid -> 422; so do the API's
own (401 without credentials, 422 for a body that does not validate, 429
past the rate limit).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from deskmail.services.errors import Forbidden, Invalid, NotFound, ServiceError

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"


class FieldProblem(Schema):
    field: str
    detail: str


class Problem(Schema):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[FieldProblem] = []


def problem(
    status: int,
    detail: str,
    *,
    field: str | None = None,
    errors: Iterable[Mapping[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    listed = [dict(error) for error in errors]
    if field is None and listed:
        field = listed[0]["field"]
    if field is not None and not listed:
        listed = [{"field": field, "detail": detail}]
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "field": field,
        "errors": listed,
    }
    response = HttpResponse(json.dumps(body), status=status, content_type=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


# -- from exceptions --------------------------------------------------------------------------

SOURCES = {"body", "query", "path", "header", "cookie", "form", "file"}


# The names the views give their body and query models: parameters of the Python function,
# not part of the request.
WRAPPERS = {"payload", "filters"}


def field_name(loc: Iterable[Any]) -> str:
    """A validation error's location as the client wrote it: `to.0`, not `body.payload.to.0`."""
    parts = [str(part) for part in loc]
    if parts and parts[0] in SOURCES:
        parts.pop(0)
        if len(parts) > 1 and parts[0] in WRAPPERS:
            parts.pop(0)
    return ".".join(parts) or "body"


def validation_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [
        {"field": field_name(error.get("loc", ())), "detail": str(error.get("msg", "invalid"))}
        for error in errors
    ]


def _validation(request: HttpRequest, exc: Any) -> HttpResponse:
    assert isinstance(exc, ValidationError)
    listed = validation_errors(exc.errors)
    first = listed[0] if listed else {"field": "body", "detail": "invalid"}
    return problem(422, f"{first['field']}: {first['detail']}", errors=listed)


def _service(request: HttpRequest, exc: Any) -> HttpResponse:
    if isinstance(exc, NotFound):
        return problem(404, str(exc))
    if isinstance(exc, Forbidden):
        return problem(403, str(exc))
    if isinstance(exc, Invalid):
        return problem(422, str(exc), field=exc.field)
    return problem(400, str(exc))


def _http(request: HttpRequest, exc: Any) -> HttpResponse:
    if isinstance(exc, AuthenticationError):
        return unauthorized()
    assert isinstance(exc, HttpError)
    return problem(exc.status_code, str(exc))


def unauthorized() -> HttpResponse:
    return problem(
        401,
        "send a personal access token as `Authorization: Bearer <token>` "
        "(or sign in to the console)",
        headers={"WWW-Authenticate": 'Bearer realm="deskmail"'},
    )


def _not_found(request: HttpRequest, exc: Any) -> HttpResponse:
    return problem(404, "not found")


def _too_big(request: HttpRequest, exc: Any) -> HttpResponse:
    return problem(413, "the request body is too large")


def _unreadable(request: HttpRequest, exc: Any) -> HttpResponse:
    return problem(400, f"the request cannot be read: {exc}")


def _unexpected(request: HttpRequest, exc: Any) -> HttpResponse:
    log.exception("API %s %s failed", request.method, request.path, exc_info=exc)
    return problem(500, "an unexpected error; it has been logged")


def install(api: NinjaAPI) -> None:
    """Make every error of this API a problem document."""
    api.add_exception_handler(Exception, _unexpected)
    api.add_exception_handler(ServiceError, _service)
    api.add_exception_handler(ValidationError, _validation)
    api.add_exception_handler(HttpError, _http)
    api.add_exception_handler(Http404, _not_found)
    api.add_exception_handler(RequestDataTooBig, _too_big)
    for unreadable in (MultiPartParserError, BadRequest, SuspiciousOperation):
        api.add_exception_handler(unreadable, _unreadable)
