from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from deskmail.testing.tokenserver import TokenServer


@pytest.fixture
def tokens() -> Iterator[TokenServer]:
    server = TokenServer().start()
    yield server
    server.stop()


def post(url: str, **form: str) -> dict[str, object]:
    body = urllib.parse.urlencode(form).encode()
    with urllib.request.urlopen(url, body, timeout=5) as reply:  # noqa: S310 (loopback http)
        return json.load(reply)


def test_it_issues_a_token_that_introspection_calls_active(tokens: TokenServer) -> None:
    issued = post(tokens.token_url, username="A@Helpdesk.test")
    token = str(issued["access_token"])
    answer = post(tokens.introspection_url, token=token)
    assert answer["active"] is True and answer["username"] == "a@helpdesk.test"


def test_it_calls_expired_revoked_and_unknown_tokens_inactive(tokens: TokenServer) -> None:
    expired = tokens.issue("a@helpdesk.test", expires_in=-1)
    revoked = tokens.issue("a@helpdesk.test")
    tokens.revoke(revoked)
    for token in (expired, revoked, "made-up"):
        assert post(tokens.introspection_url, token=token) == {"active": False}
