"""Telling an email from bytes that are not one."""

from __future__ import annotations

import os

import pytest

from deskmail.mail.detect import first_bytes, not_an_email


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n",
        b"Subject: headers only\r\nFrom: a@example.com\r\n",
        b"Received: from x by y; Mon, 1 Jan 2026 00:00:00 +0000\nFrom: a@example.com\n\n",
        b"From MAILER-DAEMON Mon Jan  1 00:00:00 2026\nFrom: a@example.com\n\nbody\n",
        b"X-Odd: first\r\nDate: Mon, 1 Jan 2026 00:00:00 +0000\r\n\r\n",
    ],
)
def test_it_accepts_an_email_even_without_a_body(raw: bytes) -> None:
    assert not_an_email(raw) is None


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "empty"),
        (b"\r\n\r\n  \n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "header field"),
        (b"hello there, this is just text\n", "header field"),
        (b"X-Only: something\r\n\r\nbody", "every email carries"),
    ],
)
def test_it_says_why_bytes_are_not_an_email(raw: bytes, why: str) -> None:
    reason = not_an_email(raw)
    assert reason is not None and why in reason


def test_it_refuses_random_bytes() -> None:
    rng = __import__("random").Random(7)
    refused = sum(not_an_email(rng.randbytes(200)) is not None for _ in range(500))
    assert refused == 500
    assert not_an_email(os.urandom(0)) is not None


def test_it_shows_the_first_bytes_printably() -> None:
    assert first_bytes(b"\x00\x01ab\n", limit=4) == "\\x00\\x01ab…"
    assert first_bytes(b"short") == "short"
