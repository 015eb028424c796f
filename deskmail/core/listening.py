"""How a process opens its own PostgreSQL connection to LISTEN for notifications.

Django's connections are for queries and are closed between requests; a listener
holds a connection of its own, made from the same settings.
"""

from __future__ import annotations

from typing import Any

from django.db import connections


def connection_kwargs() -> dict[str, Any]:
    """psycopg's connect() arguments for the default database (autocommit, for LISTEN)."""
    settings = connections["default"].settings_dict
    params = {
        "dbname": settings["NAME"],
        "host": settings.get("HOST") or None,
        "port": settings.get("PORT") or None,
        "user": settings.get("USER") or None,
        "password": settings.get("PASSWORD") or None,
    }
    return {**{k: v for k, v in params.items() if v}, "autocommit": True}
