"""Signing in and out, passwords, throttling, and the headers that keep pages safe."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from deskmail.core.models import SignInThrottle
from deskmail.services import signin
from deskmail.testing.personas import PASSWORD

pytestmark = pytest.mark.django_db


def _sign_in(client: Client, login: str, password: str, **extra: str):
    return client.post("/", {"login": login, "password": password, **extra}, **{})


def test_it_shows_a_visitor_the_sign_in_page_at_the_root():
    response = Client().get("/")

    assert response.status_code == 200
    assert b'<form method="post" action="/"' in response.content
    assert b'name="password"' in response.content


def test_it_signs_in_with_the_address_and_lands_on_the_tickets(team):
    client = Client()

    response = _sign_in(client, "Nora@Helpdesk.example ", PASSWORD)

    assert response.status_code == 302 and response["Location"] == "/tickets/"
    assert client.get("/tickets/").status_code == 200
    assert client.get("/").status_code == 302


def test_it_goes_on_to_the_page_asked_for_but_never_to_another_site(team):
    client = Client()
    assert _sign_in(client, team.nora.email, PASSWORD, next="/tickets/?view=mine")["Location"] == (
        "/tickets/?view=mine"
    )
    client = Client()
    assert _sign_in(client, team.nora.email, PASSWORD, next="https://evil.example/")[
        "Location"
    ] == ("/tickets/")


def test_it_refuses_a_wrong_password_with_the_same_words_as_an_unknown_account(team):
    wrong = _sign_in(Client(), team.nora.email, "not it")
    unknown = _sign_in(Client(), "nobody@helpdesk.example", "not it")

    assert wrong.status_code == unknown.status_code == 200
    assert signin.FAILED.encode() in wrong.content
    assert signin.FAILED.encode() in unknown.content


def test_it_refuses_an_inactive_person(team):
    team.nora.is_active = False
    team.nora.save()

    assert b"do not match" in _sign_in(Client(), team.nora.email, PASSWORD).content


def test_it_signs_out_only_by_post(team):
    client = Client()
    client.force_login(team.nora)

    assert client.get("/sign-out/").status_code == 405
    assert client.post("/sign-out/")["Location"] == "/"
    assert client.get("/tickets/")["Location"].startswith("/?next=")


def test_it_hashes_new_passwords_with_argon2(team):
    user = get_user_model().objects.create_user("new@helpdesk.example", password="x" * 20)

    assert user.password.startswith("argon2$argon2id$")


def test_it_upgrades_an_older_hash_to_argon2_at_sign_in(team):
    from django.contrib.auth.hashers import make_password

    team.nora.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    team.nora.save()

    _sign_in(Client(), team.nora.email, PASSWORD)

    team.nora.refresh_from_db()
    assert team.nora.password.startswith("argon2$")


def test_it_locks_an_account_at_an_address_after_five_failures(team):
    client = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(5):
        _sign_in(client, team.nora.email, "guess")

    refused = _sign_in(client, team.nora.email, PASSWORD)

    assert refused.status_code == 429
    assert b"Too many failed sign-ins" in refused.content
    assert "_auth_user_id" not in client.session
    # From another address the right password still works: a guesser elsewhere
    # cannot lock a colleague out.
    other = Client(REMOTE_ADDR="198.51.100.7")
    assert _sign_in(other, team.nora.email, PASSWORD).status_code == 302


def test_it_forgets_the_failures_after_a_good_password(team):
    client = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(4):
        _sign_in(client, team.nora.email, "guess")
    assert _sign_in(client, team.nora.email, PASSWORD).status_code == 302
    client = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(4):
        _sign_in(client, team.nora.email, "guess")

    assert _sign_in(client, team.nora.email, PASSWORD).status_code == 302


def test_it_stores_no_address_or_account_in_clear_in_the_throttle(team):
    _sign_in(Client(REMOTE_ADDR="203.0.113.9"), team.nora.email, "guess")

    keys = list(SignInThrottle.objects.values_list("key", flat=True))
    assert len(keys) == 3 and not any("203.0" in k or "nora" in k for k in keys)


def test_it_refuses_a_form_without_the_csrf_token(team):
    client = Client(enforce_csrf_checks=True)

    assert _sign_in(client, team.nora.email, PASSWORD).status_code == 403
    client.force_login(team.nora)
    assert client.post("/sign-out/").status_code == 403


def test_it_puts_the_csrf_token_on_the_body_for_htmx(team):
    client = Client()
    client.force_login(team.nora)

    page = client.get("/tickets/").content.decode()

    assert '<body hx-headers=\'{"x-csrftoken": "' in page


def test_it_sends_a_strict_content_security_policy_without_inline_script(team):
    client = Client()
    client.force_login(team.nora)

    for url in ("/", "/tickets/"):
        policy = client.get(url, follow=True)["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe" not in policy


def test_it_has_no_inline_script_or_handler_in_its_pages(team):
    client = Client()
    client.force_login(team.nora)
    page = client.get("/tickets/").content.decode()

    assert "<script>" not in page and " onclick=" not in page and "javascript:" not in page
    assert "<script src=" in page


def test_it_forbids_framing_and_sniffing(team):
    response = Client().get("/")

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_it_marks_the_session_cookie_httponly_and_samesite(team):
    client = Client()
    response = _sign_in(client, team.nora.email, PASSWORD)

    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_it_marks_cookies_secure_behind_tls(tmp_path):
    import os
    import subprocess
    import sys

    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'deskmail.settings'; "
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER)"
    )
    env = {**os.environ, "DESKMAIL_DATA_DIR": str(tmp_path), "DESKMAIL_BEHIND_TLS": "true"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)

    assert out.stdout.split() == ["True", "True", "('HTTP_X_FORWARDED_PROTO',", "'https')"]


def test_the_first_admin_printed_by_make_run_signs_in_at_the_root(db):
    from deskmail.core.admin_account import ensure_first_admin

    created = ensure_first_admin()
    assert created is not None
    username, password = created
    client = Client()

    response = _sign_in(client, username, password)

    assert response.status_code == 302 and response["Location"] == "/tickets/"
    assert client.get("/tickets/?view=all").status_code == 200
