"""Fixtures shared by every package's tests."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connections

pytest_plugins = ["deskmail.testing.fixtures"]


def _postgres_unreachable() -> str | None:
    """The reason PostgreSQL cannot be used, or None when it can (or is not asked for)."""
    database = settings.DATABASES["default"]
    if "postgresql" not in database["ENGINE"]:
        return None
    import psycopg

    try:
        psycopg.connect(
            host=database.get("HOST") or None,
            port=database.get("PORT") or None,
            user=database.get("USER") or None,
            password=database.get("PASSWORD") or None,
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {database.get('HOST')}:{database.get('PORT')} unreachable: {exc}"
    return None


def pytest_report_header(config: pytest.Config) -> str:
    database = settings.DATABASES["default"]
    return f"deskmail database: {database['ENGINE'].rsplit('.', 1)[-1]} {database.get('HOST', '')}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _postgres_unreachable()
    if reason is None:
        return
    # Loud, never silent: every database test is reported as skipped with the reason.
    marker = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker("django_db"):
            item.add_marker(marker)
    config.issue_config_time_warning(pytest.PytestWarning(reason), stacklevel=2)


@pytest.fixture
def close_db_connections():
    yield
    for connection in connections.all():
        connection.close()
