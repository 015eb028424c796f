"""The sentence encoder: all-MiniLM-L6-v2 run in numpy gives the model's own results."""

from __future__ import annotations

import numpy as np
import pytest

from deskmail.suggest import encoder


@pytest.fixture(scope="module")
def model() -> encoder.Encoder:
    loaded = encoder.get()
    assert loaded is not None, "the sentence model package is not installed (make install)"
    return loaded


def test_it_reproduces_the_models_published_similarities(model: encoder.Encoder) -> None:
    # The sentence-transformers quickstart's example for this model: 0.6660, 0.1046, 0.1411.
    vectors = model.encode(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    similarity = vectors @ vectors.T
    assert similarity[0, 1] == pytest.approx(0.6660, abs=2e-4)
    assert similarity[0, 2] == pytest.approx(0.1046, abs=2e-4)
    assert similarity[1, 2] == pytest.approx(0.1411, abs=2e-4)


def test_vectors_are_unit_length_and_independent_of_the_batch(model: encoder.Encoder) -> None:
    texts = ["Short.", "A much longer question about an invoice that was sent twice by mistake."]
    together = model.encode(texts)
    assert together.shape == (2, encoder.DIMENSIONS)
    assert together.dtype == np.float32
    assert np.linalg.norm(together, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    # Padding the short one in a batch with the long one changes nothing.
    alone = model.encode(texts[:1])
    assert alone[0] == pytest.approx(together[0], abs=1e-5)


def test_a_paraphrase_is_near_and_an_unrelated_question_far(model: encoder.Encoder) -> None:
    jam, paraphrase, invoice = model.encode(
        [
            "The printer has a paper jam on floor 2.",
            "Sheets keep getting stuck inside the copier",
            "Could you send me a copy of my last invoice?",
        ]
    )
    assert float(jam @ paraphrase) > 0.4
    assert float(jam @ invoice) < 0.2


def test_stored_bytes_round_trip(model: encoder.Encoder) -> None:
    vectors = model.encode(["one", "two"])
    back = encoder.from_bytes([encoder.to_bytes(v) for v in vectors])
    assert np.array_equal(back, vectors)
    assert encoder.from_bytes([]).shape == (0, encoder.DIMENSIONS)


def test_without_the_package_it_reports_unavailable_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(encoder, "PACKAGE", "deskmail_no_such_model_package")
    encoder.reset()
    try:
        assert encoder.get() is None
        assert encoder.get() is None
        warnings = [r for r in caplog.records if "sentence model is not available" in r.message]
        assert len(warnings) == 1
    finally:
        encoder.reset()
