"""Identity-rule patterns: refused when catastrophic, stopped when slow."""

from __future__ import annotations

import pytest

from deskmail.mailboxes import patterns
from deskmail.mailboxes.config import IdentityRule


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|aa)+$", r"(\w+\s?)+$", r"([a-z]+)*$"])
def test_it_refuses_a_pattern_that_backtracks_catastrophically(pattern):
    with pytest.raises(ValueError, match="takes too long"):
        IdentityRule(match="subject", pattern=pattern)


@pytest.mark.parametrize("pattern", [r"order-[0-9]+", r"^\[?ref:(\w+)\]?", r"\bINV-\d{4,8}\b"])
def test_it_accepts_an_ordinary_pattern(pattern):
    assert IdentityRule(match="subject", pattern=pattern).pattern == pattern


def test_it_refuses_a_pattern_that_does_not_compile():
    with pytest.raises(ValueError, match="not a valid regular expression"):
        IdentityRule(match="body", pattern="order-[0-9")


def test_it_stops_a_search_that_runs_too_long():
    with pytest.raises(patterns.PatternTimeout, match="did not finish"):
        patterns.search(r"(a|aa)+$", "a" * 60 + "!")
    assert patterns.search(r"order-\d+", "about order-42").group(0) == "order-42"
