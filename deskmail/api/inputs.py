"""Text no database can store is refused at the door (422, naming the field).

A NUL character is refused by PostgreSQL's text columns, and a lone UTF-16
surrogate (JSON allows `"\\ud800"`) cannot be encoded as UTF-8 at all. Both
would otherwise fail deep inside a query as a server error. Query parameters,
path parameters, JSON bodies and form fields are all checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError

from deskmail.api.problems import problem


def _unstorable(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            yield name, str(key)
            yield from _strings(item, name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}.{index}" if where else str(index))


def _inputs(request: HttpRequest, path: dict[str, Any]) -> Iterator[tuple[str, str]]:
    yield from _strings(path, "")
    for name in request.GET:
        for value in request.GET.getlist(name):
            yield name, name
            yield name, value
    content_type = request.content_type or ""
    if content_type.startswith("multipart/") or content_type.endswith("urlencoded"):
        try:
            for name in request.POST:
                for value in request.POST.getlist(name):
                    yield name, value
        except MultiPartParserError:
            return  # the operation answers 400
    elif request.body:
        try:
            body = json.loads(request.body)
        except ValueError:
            return  # not JSON: the operation answers 400
        yield from _strings(body, "")


def storable(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap an operation: 422 for a NUL or a lone surrogate anywhere in the request."""

    @wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        for field, text in _inputs(request, kwargs):
            if _unstorable(text):
                return problem(
                    422,
                    f"{field or 'body'}: text with a NUL character or a lone surrogate "
                    "cannot be stored",
                    field=field or "body",
                )
        return run(request, *args, **kwargs)

    return wrapper
