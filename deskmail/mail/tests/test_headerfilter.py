"""The mailbox header filter, checked exactly on each message."""

from __future__ import annotations

import pytest

from deskmail.mail.headerfilter import HeaderTerm, matches, parse_header_filter

MAIL = b"From: a@b.test\r\nX-Antivirus-Report: SAFE\r\nX-Spam: no\r\n\r\nbody\r\n"


def test_it_reads_terms_with_and_without_values() -> None:
    assert parse_header_filter(" X-Antivirus-Report = Safe ,x-spam") == [
        HeaderTerm("x-antivirus-report", "Safe"),
        HeaderTerm("x-spam", None),
    ]


@pytest.mark.parametrize("text", ["bad name=1", "x-a:b=1", "=SAFE", "x-a=b\nc"])
def test_it_rejects_a_malformed_term(text: str) -> None:
    with pytest.raises(ValueError):
        parse_header_filter(text)


def test_it_matches_header_names_case_insensitively() -> None:
    assert matches([HeaderTerm("x-antivirus-report", "SAFE")], MAIL)
    assert matches([HeaderTerm("x-spam", None)], MAIL)


def test_it_matches_values_case_sensitively_and_whole() -> None:
    assert not matches([HeaderTerm("x-antivirus-report", "safe")], MAIL)
    assert not matches([HeaderTerm("x-antivirus-report", "SAF")], MAIL)


def test_it_needs_every_term() -> None:
    assert not matches([HeaderTerm("x-spam", None), HeaderTerm("x-missing", None)], MAIL)
    assert matches([], MAIL)
