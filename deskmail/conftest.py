"""Fixtures shared by every package's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connections

from deskmail.testing.databases import postgres_required

pytest_plugins = [
    "deskmail.testing.fixtures",
    "deskmail.testing.personas",
    "deskmail.testing.browser",
]


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
    if postgres_required():
        pytest.exit(
            f"{reason}. TEST_DB is set, so the PostgreSQL run needs that server: start it, "
            "or unset TEST_DB to run on SQLite alone.",
            returncode=3,
        )
    # Run by hand without TEST_DB: every database test is reported as skipped, loudly.
    marker = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker("django_db"):
            item.add_marker(marker)
    config.stash[_UNREACHABLE] = reason


_UNREACHABLE = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reason = terminalreporter.config.stash.get(_UNREACHABLE, None)
    if reason:
        terminalreporter.write_line(f"database tests skipped: {reason}", red=True, bold=True)


@pytest.fixture
def close_db_connections():
    yield
    for connection in connections.all():
        connection.close()


@pytest.fixture(scope="session", autouse=True)
def _end_stray_test_database_sessions(request: pytest.FixtureRequest) -> Iterator[None]:
    """PostgreSQL refuses to drop a database someone is connected to.

    A connection left open by a thread of a test (a worker runner, a receiver's
    pool thread) would then fail the whole run at teardown; end such sessions,
    and say so, just before the test database is dropped.
    """
    if connections["default"].vendor != "postgresql" or not _uses_database(request):
        yield
        return
    if _postgres_unreachable() is not None:  # every database test is skipped already
        yield
        return
    request.getfixturevalue("django_db_setup")
    yield
    blocker = request.getfixturevalue("django_db_blocker")
    with blocker.unblock(), connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT pid, application_name FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        stray = cursor.fetchall()
        for pid, _name in stray:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    if stray:
        print(f"\nended {len(stray)} test database session(s) left open: pids {stray}")


def _uses_database(request: pytest.FixtureRequest) -> bool:
    return any(item.get_closest_marker("django_db") for item in request.session.items)
