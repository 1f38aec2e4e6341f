"""Next-token prediction on CPython's own English prose (`pydoc_data.topics`).

Scored the way llama.cpp's perplexity tool scores: windows of n_ctx tokens, the first half only
context, each later position predicting the next token. Against the reference variant it also
reports what llama.cpp's KL-divergence mode reports for quants: how often the top-1 token agrees,
and the mean KL(reference || variant) over the scored positions.

The reference's log-probabilities are written once (float32, one row per scored position) and read
back through a memory map by every other variant of that model in the session.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchharness.backends.base import LoadedModel
from benchharness.errors import CaseFailed, ModelError
from benchharness.readings import Reading

SOURCE = "pydoc_data.topics (CPython documentation prose)"


def corpus_text() -> str:
    """The prose of every pydoc topic, in a stable order."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def window_starts(n_tokens: int, n_ctx: int, windows: int) -> list[int]:
    """Evenly spread, non-overlapping window starts over the corpus."""
    if n_tokens < n_ctx * windows:
        raise ModelError(
            f"accuracy corpus has {n_tokens} tokens, fewer than {windows} windows of {n_ctx}; "
            "lower accuracy.windows or accuracy.n_ctx"
        )
    stride = n_tokens // windows
    return [i * stride for i in range(windows)]


def log_softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class ScoredWindow:
    """Per-window sums, kept separately so later paired statistics can resample by window."""

    scored: int
    correct: int
    nll_sum: float
    hits: tuple[int, ...]  # 1 where the top-1 prediction was the true next token, per scored position
    same_top1: int | None
    kl_sum: float | None


def score_window(
    logprobs: npt.NDArray[np.float64], targets: npt.NDArray[np.int64], reference: npt.NDArray[np.float32] | None
) -> ScoredWindow:
    """Pure scoring of one window's log-probabilities (rows) against targets and the reference rows."""
    predicted = logprobs.argmax(axis=1)
    nll = -logprobs[np.arange(len(targets)), targets]
    same = kl = None
    if reference is not None:
        ref = reference.astype(np.float64)
        same = int((ref.argmax(axis=1) == predicted).sum())
        kl = float((np.exp(ref) * (ref - logprobs)).sum())
    hits = predicted == targets
    return ScoredWindow(len(targets), int(hits.sum()), float(nll.sum()), tuple(int(h) for h in hits), same, kl)


def evaluate(
    model: LoadedModel,
    tokens: npt.NDArray[np.int64],
    *,
    n_ctx: int,
    windows: int,
    write_reference: Path | None = None,
    read_reference: Path | None = None,
) -> tuple[list[Reading], dict[str, list[float]]]:
    """Accuracy readings for `model` on the tokenized corpus, writing or comparing reference log-probs."""
    starts = window_starts(len(tokens), n_ctx, windows)
    first = n_ctx // 2
    rows_per_window = n_ctx - 1 - first
    fingerprint = hashlib.sha256(tokens.tobytes()).hexdigest()[:16] + f"-{n_ctx}-{windows}"

    reference_rows = None
    if read_reference is not None:
        meta = json.loads(read_reference.with_suffix(".json").read_text())
        if meta["fingerprint"] != fingerprint:
            raise CaseFailed(
                "this variant tokenizes the corpus differently from its reference, so agreement and KL "
                "cannot be compared; check the variant belongs to the same model"
            )
        reference_rows = np.load(read_reference, mmap_mode="r")
    writer = None
    if write_reference is not None:
        writer = np.lib.format.open_memmap(
            write_reference, mode="w+", dtype=np.float32, shape=(windows * rows_per_window, model.n_vocab)
        )

    results: list[ScoredWindow] = []
    for index, start in enumerate(starts):
        window = tokens[start : start + n_ctx]
        logprobs = log_softmax(model.score(window.tolist(), first))
        if not np.isfinite(logprobs).all():
            raise CaseFailed(f"non-finite logits in accuracy window {index}; the variant is numerically broken")
        rows = slice(index * rows_per_window, (index + 1) * rows_per_window)
        if writer is not None:
            writer[rows] = logprobs
        reference = None if reference_rows is None else np.asarray(reference_rows[rows])
        results.append(score_window(logprobs, window[first + 1 :], reference))
    if writer is not None:
        writer.flush()
        del writer
        assert write_reference is not None
        write_reference.with_suffix(".json").write_text(json.dumps({"fingerprint": fingerprint}))
    per_token = [float(h) for w in results for h in w.hits]
    return _readings(results), {
        "top1_accuracy_per_window": [w.correct / w.scored for w in results],
        "top1_correct_per_token": per_token,
    }


def _readings(results: list[ScoredWindow]) -> list[Reading]:
    scored = sum(w.scored for w in results)
    correct = sum(w.correct for w in results)
    accuracy = correct / scored
    source = f"{SOURCE}, {scored} scored tokens"
    readings = [
        # Deterministic for a given build and machine: no run-to-run spread to record.
        Reading("top1_accuracy", "fraction", accuracy, 0.0, scored, source),
        Reading("perplexity", "", math.exp(sum(w.nll_sum for w in results) / scored), 0.0, scored, source),
    ]
    if results[0].same_top1 is None:
        why = "this is the reference variant (agreement is measured against it)"
        readings += [
            Reading.unavailable("same_top1_vs_reference", "fraction", why),
            Reading.unavailable("mean_kl_vs_reference", "nats", why),
        ]
    else:
        same = sum(w.same_top1 or 0 for w in results)
        kl = sum(w.kl_sum or 0.0 for w in results)
        readings += [
            Reading("same_top1_vs_reference", "fraction", same / scored, 0.0, scored, source),
            Reading("mean_kl_vs_reference", "nats", max(kl / scored, 0.0), 0.0, scored, source),
        ]
    return readings
