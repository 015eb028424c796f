from __future__ import annotations

import pytest

from deskmail.connectors.headerfilter import HeaderTerm, header_filter_to_search, matches

MAIL = b"From: a@b.test\r\nX-Antivirus-Report: SAFE\r\nX-Spam: no\r\n\r\nbody\r\n"


@pytest.mark.parametrize(
    ("text", "search"),
    [
        ("", "UNSEEN"),
        (None, "UNSEEN"),
        ("x-antivirus-report", 'UNSEEN HEADER "x-antivirus-report" ""'),
        ("x-antivirus-report=SAFE", 'UNSEEN HEADER "x-antivirus-report" "SAFE"'),
        (
            "x-antivirus-report=SAFE,x-antispam-evaluation-time",
            'UNSEEN HEADER "x-antivirus-report" "SAFE" HEADER "x-antispam-evaluation-time" ""',
        ),
    ],
)
def test_it_translates_the_filter_to_an_imap_search(text: str | None, search: str) -> None:
    assert " ".join(header_filter_to_search(text)) == search


def test_it_lowercases_names_and_keeps_the_case_of_values() -> None:
    assert header_filter_to_search(" X-Antivirus-Report = Safe ") == [
        "UNSEEN",
        "HEADER",
        '"x-antivirus-report"',
        '"Safe"',
    ]


def test_it_quotes_a_value_with_a_double_quote() -> None:
    assert header_filter_to_search('x-tag=a"b')[-1] == '"a\\"b"'


@pytest.mark.parametrize("text", ["bad name=1", "x-a:b=1", "=SAFE"])
def test_it_rejects_a_malformed_header_name(text: str) -> None:
    with pytest.raises(ValueError):
        header_filter_to_search(text)


def test_it_matches_header_names_case_insensitively() -> None:
    assert matches([HeaderTerm("x-antivirus-report", "SAFE")], MAIL)
    assert matches([HeaderTerm("x-spam", None)], MAIL)


def test_it_matches_values_case_sensitively_and_whole() -> None:
    assert not matches([HeaderTerm("x-antivirus-report", "safe")], MAIL)
    assert not matches([HeaderTerm("x-antivirus-report", "SAF")], MAIL)


def test_it_needs_every_term() -> None:
    assert not matches([HeaderTerm("x-spam", None), HeaderTerm("x-missing", None)], MAIL)
    assert matches([], MAIL)
