"""The timed tokens are the scored tokens: a causal-LM row times and scores one and the same model.

MLPerf's compliance tests re-check accuracy on the performance run, because a pipeline timed on one
path and scored on another (a fast path that skips work, a cache that changes results, a scorer with
other precision defaults) reports a speed its accuracy figure does not describe. Here, after the timed
rounds, two checks on the greedy tokens the headline rounds generated:

1. every timed round generated the same tokens (greedy decoding of one prompt is deterministic; a round
   that differs means state leaked between rounds), and
2. the scoring path (`LoadedModel.score`, the one the accuracy figures come from) predicts each of them:
   one forward pass over context + prompt + the generated tokens (teacher forcing), whose argmax at each
   position must be the token generated there.

Two paths of one model differ in the last bits (a batched prefill against one-token steps, other
kernels), so a position where the scorer's best token beats the timed one by at most `NEAR_TIE` nats
of log-probability is a near tie: the greedy paths may part there legitimately, and the check stops
(the rest of the sequences follow different prefixes). A larger margin fails the case with the first
differing position.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from benchharness.errors import ModelError

if TYPE_CHECKING:  # the reply's types import this module; backends/ pulls in every runtime's module
    from benchharness.backends.base import LoadedModel

# Nats of log-probability within which two paths of one model may pick different greedy tokens. F32 paths
# differ by ~1e-5; 4-bit weight-only kernels for batched and single-token matmuls by a few hundredths; kernels
# that quantize activations per call differ more: ONNX Runtime GenAI's builder INT4 (accuracy level 4: int8
# activations) and its Olive twin parted at position 16 of SmolLM2's default workload by 0.26 nats on an AMD
# EPYC VM, which an earlier 0.25 called a fault and failed the README's main command. A pipeline that runs
# other weights or skips work misses by several nats; ONNX Runtime's dynamic INT8 (per-call activation scales)
# missed by 1.07 and 1.61 nats, so it is still caught here, near the line.
NEAR_TIE = 1.0


@dataclass(frozen=True)
class TokenCheck:
    """What was checked: the tokens' hash, how many positions matched, and where and why it stopped.

    In the reply as `info.timed_tokens`, field for field (typed_json).
    """

    sha256: str
    generated: int
    matched_by_scoring_path: int  # positions where the scoring path's greedy token is the timed one
    stopped: str | None  # None when every position matched


def token_hash(tokens: Sequence[int]) -> str:
    """SHA-256 of the ids as little-endian int64, the row's record of what it generated."""
    return hashlib.sha256(np.asarray(tokens, dtype="<i8").tobytes()).hexdigest()


def check_timed_tokens(
    model: LoadedModel, context: Sequence[int], prompt: Sequence[int], rounds: Sequence[Sequence[int]]
) -> TokenCheck:
    """Raise ModelError when the timed rounds' tokens differ from each other or from the scoring path's.

    `rounds`: the tokens each timed round generated (gen_tokens + 1 ids each, the prefill's first).
    """
    first = list(rounds[0])
    for index, other in enumerate(rounds[1:], start=2):
        if list(other) != first:
            at = next(
                (i for i, (a, b) in enumerate(zip(first, other, strict=False)) if a != b), min(len(first), len(other))
            )
            raise ModelError(
                f"timed round {index} generated other tokens than round 1 from the same prompt (first at position "
                f"{at}: {_at(other, at)} vs {_at(first, at)}): state leaks between rounds (a cache that changes "
                "results), so the timed rounds are not one model's greedy decoding"
            )
    sequence = [*context, *prompt, *first]  # score() gives positions first..len-2: a prediction for each of `first`
    logits = np.asarray(model.score(sequence, len(context) + len(prompt) - 1), dtype=np.float64)
    if logits.shape[0] != len(first):
        raise ModelError(f"the scoring path returned {logits.shape[0]} positions for {len(first)} generated tokens")
    if not np.isfinite(logits).all():  # the accuracy task names this fault with its window; no token claim on NaN
        return TokenCheck(token_hash(first), len(first), 0, "the scoring path returned non-finite logits")
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    for position, token in enumerate(first):
        best = int(np.argmax(log_probs[position]))
        if best == token:
            continue
        margin = float(log_probs[position, best] - log_probs[position, token])
        if margin <= NEAR_TIE:
            why = (
                f"near tie at position {position}: the scoring path prefers token {best} by {margin:.3f} nats "
                f"(<= {NEAR_TIE}); the two paths may part there"
            )
            return TokenCheck(token_hash(first), len(first), position, why)
        raise ModelError(
            f"the timed rounds generated token {token} at position {position} where the scoring path's greedy "
            f"token is {best}, {margin:.2f} nats more likely: the row would time one pipeline and score another "
            "(compare the backend's generation and scoring settings: precision, KV cache type, graph; a dynamically "
            "quantized graph such as ONNX Runtime's dynamic INT8 scales activations per call, so one-token steps and "
            "a whole-sequence pass compute different logits: score such a variant by generation, or use a "
            "weight-only quantization such as ort-int4-weight-only)"
        )
    return TokenCheck(token_hash(first), len(first), len(first), None)


def _at(tokens: Sequence[int], index: int) -> str:
    return str(tokens[index]) if index < len(tokens) else "end"
