from __future__ import annotations

from deskmail.connectors.imap import batches


def test_it_batches_by_count() -> None:
    sizes = [(uid, 10) for uid in range(1, 6)]
    assert list(batches(sizes, 2, 1000)) == [[1, 2], [3, 4], [5]]


def test_it_batches_by_bytes_and_keeps_the_order() -> None:
    sizes = [(1, 40), (2, 40), (3, 40), (4, 10)]
    assert list(batches(sizes, 100, 100)) == [[1, 2], [3, 4]]


def test_it_fetches_a_message_bigger_than_the_limit_alone() -> None:
    sizes = [(1, 10), (2, 500), (3, 10)]
    assert list(batches(sizes, 100, 100)) == [[1], [2], [3]]


def test_it_makes_no_batch_of_nothing() -> None:
    assert list(batches([], 10, 10)) == []
