"""The fast MIME tree builder gives the stdlib's tree, or steps aside."""

from __future__ import annotations

import email

import pytest

from deskmail.mail.mime import build
from deskmail.mail.parser import _POLICY
from deskmail.mail.tests.conftest import FIXTURES

FIXTURE_NAMES = sorted(p.name for p in FIXTURES.glob("*.eml"))


def shape(message: email.message.Message) -> list[tuple[object, ...]]:
    out = []
    for part in message.walk():
        payload = part._payload
        out.append(
            (
                part.get_content_type(),
                list(part._headers),
                payload if isinstance(payload, str) else len(payload),
                part.preamble if part.is_multipart() else None,
            )
        )
    return out


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_it_builds_the_same_tree_as_the_stdlib_or_none(name):
    raw = (FIXTURES / name).read_bytes()
    fast = build(raw, _POLICY)
    if fast is not None:
        assert shape(fast) == shape(email.message_from_bytes(raw, policy=_POLICY))


def test_it_builds_ordinary_multipart_mail_itself():
    raw = (FIXTURES / "related-inline-image.eml").read_bytes()
    message = build(raw, _POLICY)
    assert message is not None
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
    ]


@pytest.mark.parametrize("name", ["broken-boundaries.eml", "wrong-boundary.eml", "dsn-bounce.eml"])
def test_it_leaves_damaged_or_special_structures_to_the_stdlib(name):
    assert build((FIXTURES / name).read_bytes(), _POLICY) is None


def test_it_leaves_a_header_block_with_junk_to_the_stdlib():
    assert build(b"not a header\r\nFrom: a@example.com\r\n\r\nbody", _POLICY) is None


def test_it_does_not_take_a_longer_boundary_for_its_own():
    raw = (
        b'Content-Type: multipart/mixed; boundary="abc"\r\n\r\n'
        b"--abc\r\nContent-Type: text/plain\r\n\r\none\r\n--abcdef\r\nstill one\r\n"
        b"--abc\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--abc--\r\n"
    )
    message = build(raw, _POLICY)
    assert message is not None
    first, second = message.get_payload()
    assert first.get_payload() == "one\r\n--abcdef\r\nstill one"
    assert second.get_payload() == "two"
