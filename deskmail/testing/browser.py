"""Browser tests: the console in real headless Chromium, served by the real ASGI server.

    @pytest.mark.browser
    def test_it_opens_a_ticket(console, team):
        page = console.signed_in(team.nora)
        page.get_by_role("link", name="Printer broken").click()

`console_server` runs uvicorn with deskmail.asgi on a free loopback port in a
thread, against the test database (browser tests use `transactional_db`, so
what a test writes is committed and the server sees it). Chromium is Debian's
/usr/bin/chromium, driven by Playwright (no browser download); each test gets
a fresh browser context. The `console` fixture fails a test that let a request
leave for another host, opened a dialog, or broke the Content-Security-Policy,
and `assert_named_controls` fails on an unnamed button or an unlabelled input.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("DESKMAIL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOST = "127.0.0.1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "console" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
            # Selected by `-m django_db` (make test-postgres) like every database test.
            item.add_marker(pytest.mark.django_db(transaction=True))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ConsoleServer:
    """uvicorn serving deskmail.asgi:application in a thread, until stopped."""

    def __init__(self) -> None:
        import uvicorn

        self.port = _free_port()
        self.url = f"http://{HOST}:{self.port}"
        config = uvicorn.Config(
            "deskmail.asgi:application",
            host=HOST,
            port=self.port,
            lifespan="off",
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="console-server", daemon=True)

    def start(self) -> ConsoleServer:
        from deskmail.testing.waiting import eventually

        self.thread.start()
        eventually(lambda: self.server.started, timeout=20, what="the console server started")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def console_server() -> Iterator[ConsoleServer]:
    # Playwright's sync API runs an event loop in the test's thread; Django's ORM
    # calls from the same thread (the test's own setup) are still plain sync code.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    server = ConsoleServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"no Chromium at {CHROMIUM}: run scripts/install-test-services.sh")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh --user-data-dir of its own.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Console:
    """One browser context on the console, with what went wrong in it recorded."""

    server: ConsoleServer
    context: Any
    page: Any
    left: list[str] = field(default_factory=list)  # requests for another host (blocked)
    dialogs: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    browser: Any = None
    others: list[Console] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def go(self, path: str) -> Any:
        self.page.goto(self.url + path)
        assert_named_controls(self.page)
        return self.page

    def sign_in(self, user: Any, password: str | None = None) -> Any:
        from deskmail.testing.personas import PASSWORD

        page = self.go("/")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(password or PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{self.url}/tickets/**")
        assert_named_controls(page)
        return page

    def new_page(self) -> Any:
        """Another tab in the same context (same session)."""
        page = self.context.new_page()
        self._watch(page)
        return page

    def another_person(self, user: Any) -> Any:
        """A second browser (its own context and session), signed in as user."""
        other = Console(
            self.server,
            _new_context(self.browser),
            None,
            self.left,
            self.dialogs,
            self.csp_violations,
            self.errors,
        )
        other.browser = self.browser
        other.page = other.context.new_page()
        other._watch(other.page)
        other.context.route("**/*", _route_outside(other))
        self.others.append(other)
        return other.sign_in(user)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=False, animations="disabled")
        return path

    def _watch(self, page: Any) -> None:
        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        def on_console(message: Any) -> None:
            text = message.text
            if "Content Security Policy" in text or "Content-Security-Policy" in text:
                self.csp_violations.append(text)
            elif message.type == "error":
                self.errors.append(text)

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))


def _new_context(browser: Any) -> Any:
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        locale="en-US",
        timezone_id="UTC",
        accept_downloads=True,
    )
    context.set_default_timeout(30_000)
    return context


def _wait_for_quiet(server: ConsoleServer) -> None:
    """Every request of the test answered (streams closed) before its data goes away."""
    from deskmail.testing.waiting import eventually

    state = server.server.server_state
    eventually(lambda: not state.tasks, timeout=15, what="the console server finished its requests")


def _route_outside(console: Console) -> Any:
    ours = urlsplit(console.server.url).netloc

    def handle(route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about") or parts.netloc == ours:
            route.continue_()
        else:
            console.left.append(url)
            route.abort("blockedbyclient")

    return handle


@pytest.fixture
def console(
    console_server: ConsoleServer, chromium: Any, transactional_db: None
) -> Iterator[Console]:
    """A fresh browser context on the running console; fails on leaks it recorded."""
    context = _new_context(chromium)
    page = context.new_page()
    console = Console(console_server, context, page, browser=chromium)
    console._watch(page)
    context.route("**/*", _route_outside(console))
    try:
        yield console
    finally:
        for other in console.others:
            other.context.close()
        context.close()
        _wait_for_quiet(console_server)
    assert not console.left, f"requests left for other hosts: {console.left}"
    assert not console.dialogs, f"dialogs opened: {console.dialogs}"
    assert not console.csp_violations, (
        f"Content-Security-Policy violations: {console.csp_violations}"
    )


# Every visible <button> must have a name, every <input>/<select>/<textarea> a label.
_UNNAMED = """() => {
  const bad = [];
  const named = (el) => (el.getAttribute("aria-label") || "").trim() ||
      (el.getAttribute("aria-labelledby") || "").trim() || (el.getAttribute("title") || "").trim();
  for (const button of document.querySelectorAll("button")) {
    if (!(button.textContent || "").trim() && !named(button)) bad.push(button.outerHTML);
  }
  for (const input of document.querySelectorAll("input, select, textarea")) {
    if (input.type === "hidden" || input.closest("[hidden]")) continue;
    if ((input.labels && input.labels.length) || named(input)) continue;
    bad.push(input.outerHTML);
  }
  return bad;
}"""


def assert_named_controls(page: Any) -> None:
    """Fail on a button without a name or a form field without a label (role locators need them)."""
    bad = page.evaluate(_UNNAMED)
    assert not bad, "controls without an accessible name:\n" + "\n".join(bad)
