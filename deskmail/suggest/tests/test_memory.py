"""Rankings over the in-memory copy of the index: in step with what any process writes,
and never returning a pair the caller's query leaves out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deskmail.outbound.models import CannedAnswer
from deskmail.suggest import encoder, index, memory
from deskmail.suggest.models import Pair, Term
from deskmail.suggest.rank import MAX_POSTINGS, Hit, _budget, fused, rank, semantic

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    """Each test reads the index anew: a rolled-back test's ids are handed out again."""
    memory.forget()
    yield
    memory.forget()


def canned(name: str, body: str) -> Pair:
    pair = index.index_canned(CannedAnswer.objects.create(name=name, body=body).pk)
    assert pair is not None
    return pair


def vector(text: str) -> bytes:
    model = encoder.get()
    assert model is not None, "the sentence model package is not installed (make install)"
    return encoder.to_bytes(model.encode([text])[0])


def ids(hits: list[Hit]) -> list[int]:
    return [hit.pair_id for hit in hits]


def test_a_pair_another_process_indexed_is_ranked_at_once() -> None:
    jam = canned("Paper jam in the printer", "Open tray 2 and pull out the sheet.")
    assert ids(semantic("The printer has a paper jam", Pair.objects.all())) == [jam.pk]
    # Written as another process would: this process's copy is not told.
    row = CannedAnswer.objects.create(name="Invoice copy", body="Sent to you again.")
    question = "Invoice copy\nPlease send me a copy of my last invoice."
    other = Pair.objects.create(
        canned=row, question=question, answer=row.body, length=3, vector=vector(question)
    )
    Term.objects.bulk_create(
        Term(pair=other, term=term, count=1) for term in ("invoice", "copy", "last")
    )

    assert ids(semantic("Could you send my invoice once more?", Pair.objects.all())) == [other.pk]
    assert ids(rank("a copy of the invoice", Pair.objects.all())) == [other.pk]


def test_a_pair_another_process_changed_is_read_again() -> None:
    pair = canned("Paper jam in the printer", "Open tray 2 and pull out the sheet.")
    assert semantic("I forgot my password and cannot sign in", Pair.objects.all()) == []
    question = "Password reset\nI forgot my password and cannot sign in."
    Pair.objects.filter(pk=pair.pk).update(question=question, vector=vector(question))
    Term.objects.filter(pair=pair).delete()
    Term.objects.create(pair=pair, term="password", count=2)

    assert ids(semantic("I forgot my password and cannot sign in", Pair.objects.all())) == [pair.pk]
    assert ids(rank("my password is gone", Pair.objects.all())) == [pair.pk]


def test_only_pairs_the_callers_query_holds_are_returned() -> None:
    best = canned("Paper jam in the printer", "Open tray 2 and pull out the sheet.")
    next_best = canned("The printer keeps jamming paper", "Use the 80 g paper only.")
    canned("Invoice copy", "Sent to you again.")
    seen = Pair.objects.exclude(pk=best.pk)

    for ranking in (rank, semantic, fused):
        found = ids(ranking("the printer has a paper jam", seen))
        assert found[0] == next_best.pk, ranking.__name__
        assert best.pk not in found, ranking.__name__


def test_a_removed_pair_is_never_returned() -> None:
    gone = canned("Paper jam in the printer", "Open tray 2 and pull out the sheet.")
    assert ids(fused("the printer has a paper jam", Pair.objects.all())) == [gone.pk]
    Pair.objects.filter(pk=gone.pk).delete()

    assert fused("the printer has a paper jam", Pair.objects.all()) == []


def test_scoring_reads_the_rarest_words_postings_within_the_budget() -> None:
    df = {"printer": 10, "jam": MAX_POSTINGS - 10, "paper": 11, "the": 3 * MAX_POSTINGS}
    assert _budget(df) == {"printer": 10, "paper": 11}
    assert _budget({"printer": 10, "jam": MAX_POSTINGS - 10}) == {
        "printer": 10,
        "jam": MAX_POSTINGS - 10,
    }
    # The rarest word is always scored, however common.
    assert _budget({"the": 3 * MAX_POSTINGS}) == {"the": 3 * MAX_POSTINGS}
