"""Accuracy tasks: their pure scoring, and clear errors when the data set is empty or too small."""

import numpy as np
import pytest

from benchharness.errors import ModelError
from benchharness.tasks import next_token, retrieval


def test_empty_or_short_corpus_is_a_clear_error():
    with pytest.raises(ModelError, match=r"accuracy corpus has 0 tokens, fewer than 12 windows of 512; lower"):
        next_token.window_starts(0, 512, 12)
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
