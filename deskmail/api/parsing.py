"""Request bodies: JSON objects only."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.parser import Parser
from ninja.types import DictStrAny


class ObjectParser(Parser):
    """Every JSON body of this API is an object; anything else is refused (400) rather than
    read as an empty request."""

    def parse_body(self, request: HttpRequest) -> DictStrAny:
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data
