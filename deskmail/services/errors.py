"""The errors of the service layer; the console and the API map them to HTTP statuses."""

from __future__ import annotations


class ServiceError(Exception):
    """Something a person asked for cannot be done; the message says why, for them."""


class NotFound(ServiceError):
    """It does not exist, or the person may not see it: the two are never told apart (404)."""


class Forbidden(ServiceError):
    """The person may see it but not do this to it (403)."""


class Invalid(ServiceError):
    """The request is wrong; `field` names what to correct (422)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
