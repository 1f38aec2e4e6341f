"""Next-token prediction on the team's own text (`[models.NAME.data] text`), or CPython's prose (`pydoc_data.topics`).

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
from benchharness.evaldata import EvalData, read_text
from benchharness.readings import Reading
from benchharness.tasks.divergence import KlStatistics, PerToken, concatenate, per_token, summarize

SOURCE = "pydoc_data.topics (CPython documentation prose)"


def corpus_text(data: EvalData | None = None) -> str:
    """The model's declared text files (re-checked against their start-up hashes), else every pydoc topic in order."""
    if data is not None and data.text:
        return read_text(data)
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def corpus_source(data: EvalData) -> str:
    """What the accuracy figures were scored on, for each reading's source."""
    return "; ".join(f.describe() for f in data.text) if data.text else SOURCE


def corpus_digest(text: str | None = None) -> str:
    """A short hash of the corpus text (it changes with CPython's documentation), for cache keys."""
    return hashlib.sha256((corpus_text() if text is None else text).encode()).hexdigest()[:16]


def window_starts(n_tokens: int, n_ctx: int, windows: int, source: str = SOURCE) -> list[int]:
    """Evenly spread, non-overlapping window starts over the corpus."""
    if n_tokens < n_ctx * windows:
        raise ModelError(
            f"accuracy corpus ({source}) has {n_tokens} tokens, fewer than {windows} windows of {n_ctx}; "
            "add text, or lower accuracy.windows or accuracy.n_ctx"
        )
    stride = n_tokens // windows
    return [i * stride for i in range(windows)]


def bos_token(model: LoadedModel) -> int | None:
    """The token the model's tokenizer puts before any text when its vocabulary adds BOS, else None.

    Read off the tokenizer itself (the empty text tokenizes to that token alone), so llama.cpp's
    add_bos flag and a Hugging Face tokenizer's post-processor are both honoured.
    """
    ids = model.tokenize("")
    return int(ids[0]) if len(ids) == 1 else None


def log_softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Row-wise log-softmax in float32 with a float64 sum, as llama.cpp computes it (half the memory traffic)."""
    shifted = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True, dtype=np.float64)).astype(np.float32)
    result: npt.NDArray[np.float32] = shifted - log_sum
    return result


@dataclass(frozen=True)
class ScoredWindow:
    """Per-window sums, kept separately so later paired statistics can resample by window."""

    scored: int
    correct: int
    nll_sum: float
    hits: tuple[int, ...]  # 1 where the top-1 prediction was the true next token, per scored position
    divergence: PerToken | None  # against the reference's distributions (None for the reference itself)


def score_window(
    logprobs: npt.NDArray[np.float32], targets: npt.NDArray[np.int64], reference: npt.NDArray[np.float32] | None
) -> ScoredWindow:
    """Pure scoring of one window's log-probabilities (rows) against targets and the reference rows."""
    predicted = logprobs.argmax(axis=1)
    nll = -logprobs[np.arange(len(targets)), targets]
    divergence = None if reference is None else per_token(logprobs, np.asarray(reference, np.float32), targets)
    hits = predicted == targets
    return ScoredWindow(len(targets), int(hits.sum()), float(nll.sum()), tuple(int(h) for h in hits), divergence)


def evaluate(
    model: LoadedModel,
    tokens: npt.NDArray[np.int64],
    *,
    n_ctx: int,
    windows: int,
    write_reference: Path | None = None,
    read_reference: Path | None = None,
    source: str = SOURCE,
) -> tuple[list[Reading], dict[str, list[float]], KlStatistics | None]:
    """Accuracy readings for `model` on the tokenized corpus, writing or comparing reference log-probs.

    Also returns llama-perplexity's full KL statistics against the reference (None for the reference).
    """
    starts = window_starts(len(tokens), n_ctx, windows, source)
    first = n_ctx // 2
    rows_per_window = n_ctx - 1 - first
    fingerprint = hashlib.sha256(tokens.tobytes()).hexdigest()[:16] + f"-{n_ctx}-{windows}"
    # As llama-perplexity does: where the vocabulary adds BOS, every window (not only the corpus's first)
    # starts with it, in place of the window's first token, which is context and never scored.
    bos = bos_token(model)
    if bos is not None:
        fingerprint += f"-bos{bos}"

    reference_rows = None
    if read_reference is not None:
        meta = json.loads(read_reference.with_suffix(".json").read_text())
        if meta["fingerprint"] != fingerprint:
            raise CaseFailed(
                "this variant tokenizes the corpus differently from its reference, so agreement and KL "
                "cannot be compared; check the variant belongs to the same model"
            )
        reference_rows = np.load(read_reference, mmap_mode="r")
        if reference_rows.shape[1] != model.n_vocab:  # before scoring: the rows could not be set side by side
            why = (
                f"this variant's vocabulary has {model.n_vocab} tokens and its reference's {reference_rows.shape[1]}, "
                "so their predictions cannot be compared; check the variant was made from the same model "
                "(its speed figures stand)"
            )
            return [Reading.unavailable(name, unit, why) for name, unit in ACCURACY_METRICS], {}, None
    writer = None
    if write_reference is not None:
        writer = np.lib.format.open_memmap(
            write_reference, mode="w+", dtype=np.float32, shape=(windows * rows_per_window, model.n_vocab)
        )

    results: list[ScoredWindow] = []
    for index, start in enumerate(starts):
        window = tokens[start : start + n_ctx].copy()
        if bos is not None:
            window[0] = bos
        logprobs = log_softmax(model.score([int(t) for t in window], first))
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
    hits = [float(h) for w in results for h in w.hits]
    divergence = None
    if all(w.divergence is not None for w in results):
        divergence = summarize(concatenate([w.divergence for w in results if w.divergence is not None]))
    samples = {"top1_accuracy_per_window": [w.correct / w.scored for w in results], "top1_correct_per_token": hits}
    return _readings(results, divergence, source), samples, divergence


DIVERGENCE_METRICS = (
    ("same_top1_vs_reference", "fraction"),
    ("mean_kl_vs_reference", "nats"),
    ("kl_p99_vs_reference", "nats"),
    ("delta_p_rms_vs_reference", "fraction"),
    ("ln_ppl_ratio_vs_reference", "nats"),
)
ACCURACY_METRICS = (("top1_accuracy", "fraction"), ("perplexity", ""), *DIVERGENCE_METRICS)


def _readings(results: list[ScoredWindow], divergence: KlStatistics | None, corpus: str) -> list[Reading]:
    scored = sum(w.scored for w in results)
    correct = sum(w.correct for w in results)
    accuracy = correct / scored
    source = f"{corpus}, {scored} scored tokens"
    readings = [
        # Deterministic for a given build and machine: no run-to-run spread to record.
        Reading("top1_accuracy", "fraction", accuracy, None, scored, source),
        Reading("perplexity", "", math.exp(sum(w.nll_sum for w in results) / scored), None, scored, source),
    ]
    if divergence is None:
        why = "this is the reference variant (agreement is measured against it)"
        return readings + [Reading.unavailable(name, unit, why) for name, unit in DIVERGENCE_METRICS]
    # stdev such that stdev / sqrt(n - 1) is llama-perplexity's ± for the figure.
    root = math.sqrt(scored - 1)
    kl_source = f"{source}; as llama-perplexity --kl-divergence computes it (stdev / sqrt(n-1) = its ±)"
    figures = {
        "same_top1_vs_reference": divergence.same_top,
        "mean_kl_vs_reference": divergence.mean_kld,
        "delta_p_rms_vs_reference": divergence.rms_delta_p,
        "ln_ppl_ratio_vs_reference": divergence.ln_ppl_ratio,
    }
    for name, unit in DIVERGENCE_METRICS:
        if name == "kl_p99_vs_reference":
            readings.append(Reading(name, unit, divergence.kld_percentiles["99"], None, scored, kl_source))
        else:
            estimate = figures[name]
            value = max(estimate.value, 0.0) if name == "mean_kl_vs_reference" else estimate.value
            readings.append(Reading(name, unit, value, estimate.uncertainty * root, scored, kl_source))
    return readings
