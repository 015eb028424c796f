"""Value types of the API's inputs that pydantic's defaults would take too loosely."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BeforeValidator, Field


def _iso_datetime(value: Any) -> dt.datetime:
    """ISO 8601 only (pydantic would also take a number as Unix seconds); no offset: UTC."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("an ISO 8601 date and time, e.g. 2025-01-31T09:00:00Z") from None
    else:
        raise ValueError("an ISO 8601 date and time, e.g. 2025-01-31T09:00:00Z")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_datetime)]

# Ids and numbers are 64-bit in both databases; a larger one would fail inside the query.
ID_MAX = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=ID_MAX)]
