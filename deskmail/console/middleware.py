"""Service errors that escape a view become the status they mean, never a 500."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from deskmail.services.errors import Forbidden, Invalid, NotFound, ServiceError


class ServiceErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, ServiceError):
            return None
        if isinstance(exc, NotFound):
            return render(request, "404.html", status=404)
        status = 403 if isinstance(exc, Forbidden) else 422 if isinstance(exc, Invalid) else 400
        return render(request, "console/problem.html", {"problem": str(exc)}, status=status)
