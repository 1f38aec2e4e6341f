"""Accuracy tasks: their pure scoring, and clear errors when the data set is empty or too small."""

import numpy as np
import pytest

from benchharness.errors import ModelError
from benchharness.tasks import next_token, retrieval


def test_empty_or_short_corpus_is_a_clear_error():
    with pytest.raises(
        ModelError, match=r"accuracy corpus \(pydoc_data.topics .*\) has 0 tokens, fewer than 12 windows"
    ):
        next_token.window_starts(0, 512, 12)
    with pytest.raises(ModelError, match=r"accuracy corpus \(eval/c.txt\) has 9 tokens.*add text, or lower"):
        next_token.window_starts(9, 512, 12, "eval/c.txt")
    assert next_token.window_starts(1000, 100, 4) == [0, 250, 500, 750]


def test_empty_retrieval_data_set_is_a_clear_error(monkeypatch):
    import pydoc_data.topics

    monkeypatch.setattr(pydoc_data.topics, "topics", {})
    with pytest.raises(ModelError, match=r"pydoc_data.topics is empty"):
        retrieval.topics()


def test_retrieval_data_is_real_and_paired():
    queries, documents = retrieval.topics()
    assert len(queries) == len(documents) >= 50
    assert "attribute references" in queries


def test_mean_pool_ignores_padding_and_normalises():
    hidden = np.array([[[1.0, 0.0], [3.0, 0.0], [100.0, 100.0]]], np.float32)
    mask = np.array([[1, 1, 0]])
    assert np.allclose(retrieval.mean_pool(hidden, mask), [[1.0, 0.0]])


def test_top1_finds_each_own_document():
    embeddings = np.eye(4, dtype=np.float32)
    assert retrieval.top1(embeddings, embeddings).all()
    assert not retrieval.top1(embeddings, embeddings[::-1]).any()


def test_digits_split_is_fixed_and_disjoint():
    pytest.importorskip("sklearn", reason="pip install 'benchharness[onnx]'")
    from benchharness.tasks.classification import digits_split

    x_train, x_test, y_train, _ = digits_split()
    again = digits_split()
    assert np.array_equal(x_test, again[1]) and np.array_equal(y_train, again[2])
    assert len(x_train) + len(x_test) == 1797 and len(x_test) == 450
    assert x_train.min() >= 0.0 and x_train.max() <= 1.0


class _Scorer:
    """A causal LM of `n_vocab` tokens whose log-probabilities favour each next token (score calls counted)."""

    def __init__(self, n_vocab: int, bos: int | None = None) -> None:
        self.n_vocab = n_vocab
        self.calls = 0
        self.bos = bos
        self.windows: list[list[int]] = []

    def tokenize(self, text: str) -> list[int]:
        return ([] if self.bos is None else [self.bos]) + [ord(c) % self.n_vocab for c in text]

    def score(self, tokens: list[int], first: int) -> np.ndarray:
        self.calls += 1
        self.windows.append(list(tokens))
        logits = np.zeros((len(tokens) - 1 - first, self.n_vocab), np.float32)
        logits[np.arange(len(logits)), np.asarray(tokens[first + 1 :]) % self.n_vocab] = 5.0
        return logits


def test_a_variant_with_another_vocabulary_keeps_its_speed_and_says_why_accuracy_is_unavailable(tmp_path):
    tokens = np.arange(400, dtype=np.int64) % 40
    reference = tmp_path / "reference.npy"
    readings, _, _ = next_token.evaluate(_Scorer(48), tokens, n_ctx=32, windows=4, write_reference=reference)
    assert {r.name: r.value for r in readings}["top1_accuracy"] == 1.0
    variant = _Scorer(64)
    readings, samples, divergence = next_token.evaluate(variant, tokens, n_ctx=32, windows=4, read_reference=reference)
    assert variant.calls == 0 and samples == {} and divergence is None  # compared before scoring
    assert {r.name for r in readings} == {name for name, _ in next_token.ACCURACY_METRICS}
    assert all(r.value is None for r in readings)
    assert "vocabulary has 64 tokens and its reference's 48" in readings[0].unavailable_reason
    same = _Scorer(48)
    readings, _, divergence = next_token.evaluate(same, tokens, n_ctx=32, windows=4, read_reference=reference)
    assert same.calls == 4 and divergence is not None


def test_outputs_of_another_shape_make_only_the_comparison_unavailable(tmp_path):
    from benchharness.tasks.base import Incomparable, exchange_reference

    stored = tmp_path / "reference.npy"
    assert exchange_reference(np.zeros((3, 4)), stored, None, "embeddings") is None
    assert exchange_reference(np.ones((3, 4)), None, stored, "embeddings").shape == (3, 4)
    with pytest.raises(Incomparable, match=r"embeddings \(3, 8\) differ in shape from the reference's \(3, 4\)"):
        exchange_reference(np.ones((3, 8)), None, stored, "embeddings")


@pytest.mark.parametrize("bos", [None, 7])
def test_every_accuracy_window_starts_with_bos_where_the_vocabulary_adds_it(bos):
    """llama-perplexity replaces each chunk's first token with BOS when add_bos; not only the corpus's first."""
    tokens = (np.arange(400, dtype=np.int64) % 37) + 10  # never 7: a BOS seen in a window was put there
    model = _Scorer(48, bos=bos)
    readings, _, _ = next_token.evaluate(model, tokens, n_ctx=32, windows=4)
    assert len(model.windows) == 4
    stride = len(tokens) // 4
    for index, window in enumerate(model.windows):
        expected = tokens[index * stride : index * stride + 32].tolist()
        if bos is not None:
            expected[0] = bos
        assert window == expected
    # The first token is context, never scored: the figures are those of the same windows' targets.
    assert {r.name: r.value for r in readings}["top1_accuracy"] == 1.0
    assert list(tokens[:1]) != [7]


def test_a_reference_scored_without_bos_is_not_compared_with_a_variant_that_adds_it(tmp_path):
    from benchharness.errors import CaseFailed

    tokens = np.arange(400, dtype=np.int64) % 40
    reference = tmp_path / "reference.npy"
    next_token.evaluate(_Scorer(48), tokens, n_ctx=32, windows=4, write_reference=reference)
    with pytest.raises(CaseFailed, match="tokenizes the corpus differently"):
        next_token.evaluate(_Scorer(48, bos=1), tokens, n_ctx=32, windows=4, read_reference=reference)
