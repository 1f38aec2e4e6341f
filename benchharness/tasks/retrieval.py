"""Retrieval: each query must rank its own document first among all the documents.

On the team's own (query, positive document) pairs (`[models.NAME.data] retrieval`, a JSONL file),
or by default on CPython's own documentation: query "attribute references" must rank the topic text
filed under 'attribute-references' first among all 79 topics. Similarity is the cosine of
mean-pooled sentence embeddings (how sentence-transformers pools all-MiniLM-L6-v2). Against the
reference variant it also reports the mean cosine similarity of each embedding to the reference's
embedding of the same text. The timed batches are made of the same documents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchharness.backends.base import TensorModel
from benchharness.backends.hf_tokenizer import load_tokenizer
from benchharness.errors import CaseFailed, ModelError
from benchharness.evaldata import EvalData, read_pairs
from benchharness.readings import Reading
from benchharness.tasks.base import Feeds, Incomparable, exchange_reference, select_inputs

SOURCE = "pydoc_data.topics: 79 titles -> topic texts (CPython documentation)"
MAX_TOKENS = 128  # timing and document length; all-MiniLM-L6-v2 was trained on up to 128 tokens
EVAL_BATCH = 32


def user_pairs(data: EvalData) -> tuple[list[str], list[str], list[int]]:
    """(queries, distinct documents, each query's document index) from the declared JSONL."""
    assert data.retrieval is not None
    queries: list[str] = []
    documents: dict[str, int] = {}
    targets: list[int] = []
    for query, positive in read_pairs(data.retrieval):
        queries.append(query)
        targets.append(documents.setdefault(positive, len(documents)))
    return queries, list(documents), targets


def topics() -> tuple[list[str], list[str]]:
    """(queries, documents): each title with its dashes as spaces, and the topic's text."""
    from pydoc_data.topics import topics as table

    keys = sorted(table)
    if not keys:
        raise ModelError("pydoc_data.topics is empty on this Python; the retrieval task has no data")
    return [key.replace("-", " ") for key in keys], [table[key] for key in keys]


def _tokenizer(variant: Path) -> Any:
    tokenizer = load_tokenizer(variant)
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    return tokenizer


def mean_pool(hidden: npt.NDArray[np.float32], mask: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
    """Mean over real tokens, L2-normalised: sentence-transformers' pooling for this model."""
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def top1(
    queries: npt.NDArray[np.float32], documents: npt.NDArray[np.float32], targets: npt.NDArray[np.int64] | None = None
) -> npt.NDArray[np.bool_]:
    """Per query: is its own document (`targets`; default: the same index) the most similar one?"""
    best = (queries @ documents.T).argmax(axis=1)
    return np.asarray(best == (np.arange(len(queries)) if targets is None else targets))


class RetrievalTask:
    def __init__(self, variant: Path, data: EvalData) -> None:
        self.tokenizer = _tokenizer(variant)
        if data.retrieval is not None:
            self.queries, self.documents, targets = user_pairs(data)
            self.targets = np.asarray(targets, dtype=np.int64)
            self.source = data.retrieval.describe()
        else:
            self.queries, self.documents = topics()
            self.targets = np.arange(len(self.queries), dtype=np.int64)
            self.source = SOURCE

    def _feeds(self, texts: list[str], pad_to: int | None) -> Feeds:
        if pad_to:
            self.tokenizer.enable_padding(length=pad_to)
        else:
            self.tokenizer.enable_padding()
        encoded = self.tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
        return {
            "input_ids": ids,
            "attention_mask": np.asarray([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.zeros_like(ids),
        }

    def timing_feeds(self, model: TensorModel, batch_size: int) -> Feeds:
        texts = [self.documents[i % len(self.documents)] for i in range(batch_size)]
        return select_inputs(model, self._feeds(texts, pad_to=MAX_TOKENS))

    def embed(self, model: TensorModel, texts: list[str]) -> npt.NDArray[np.float32]:
        parts = []
        for start in range(0, len(texts), EVAL_BATCH):
            feeds = self._feeds(texts[start : start + EVAL_BATCH], pad_to=None)
            outputs = model.run(select_inputs(model, feeds))
            hidden = outputs.get("last_hidden_state", next(iter(outputs.values())))
            parts.append(mean_pool(np.asarray(hidden, np.float32), feeds["attention_mask"]))
        embeddings = np.concatenate(parts)
        if not np.isfinite(embeddings).all():
            raise CaseFailed("non-finite embeddings; the variant is numerically broken")
        return embeddings

    def evaluate(
        self, model: TensorModel, write_reference: Path | None, read_reference: Path | None
    ) -> tuple[list[Reading], dict[str, list[float]]]:
        embeddings = self.embed(model, self.queries + self.documents)
        n = len(self.queries)
        hits = top1(embeddings[:n], embeddings[n:], self.targets)
        readings = [Reading("retrieval_top1", "fraction", float(hits.mean()), None, n, self.source)]
        why = "this is the reference variant (fidelity is measured against it)"
        try:
            reference = exchange_reference(embeddings, write_reference, read_reference, "embeddings")
        except Incomparable as e:
            reference, why = None, str(e)
        if reference is None:
            readings.append(Reading.unavailable("cosine_vs_reference", "cosine", why))
        else:
            cosine = (embeddings * reference).sum(axis=1)
            readings.append(
                Reading(
                    "cosine_vs_reference", "cosine", float(cosine.mean()), float(cosine.std()), len(cosine), self.source
                )
            )
        return readings, {"retrieval_hit_per_query": [float(h) for h in hits]}
