"""Trimming a long References chain."""

from __future__ import annotations

from deskmail.outbound.threading import trim_references


def test_it_keeps_a_short_chain_as_it_is_without_repeats() -> None:
    assert trim_references(["a@x", "b@x", "a@x", "c@x"]) == ["a@x", "b@x", "c@x"]


def test_it_keeps_the_first_and_the_latest_ids_of_a_long_chain() -> None:
    chain = [f"m{n}@example.com" for n in range(50)]

    trimmed = trim_references(chain)

    assert len(trimmed) == 20
    assert trimmed[0] == "m0@example.com"
    assert trimmed[1:] == chain[-19:]


def test_it_keeps_the_header_under_a_thousand_characters() -> None:
    chain = [f"{n:03d}-" + "x" * 90 + "@example.com" for n in range(15)]

    trimmed = trim_references(chain)

    assert sum(len(v) + 3 for v in trimmed) - 1 <= 1000
    assert trimmed[0] == chain[0] and trimmed[-1] == chain[-1]
    assert trimmed[1:] == chain[-(len(trimmed) - 1) :]
