"""Greedy generation for runtimes that return logits for the positions fed (ONNX Runtime, OpenVINO).

A subclass only says how to run tokens after the cached sequence (or into a fresh one), returning
logits from a given position of the fed tokens on; prefill, decode and scoring are the same on top
of that, so the two runtimes cannot drift apart in what their rows mean.

Prefill asks for the last position's logits only, as a deployed pipeline (and llama-bench) does:
the LM head over every prompt position is work a deployment never does (a 49k-word vocabulary
makes it a large share of a 135M model's prefill). Both runtimes get that through a `logits_from`
input added in front of the LM head at load time (LOGITS_FROM, formats/onnx_last_logits.py); only the
accuracy task asks for every position.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchharness.backends.hf_tokenizer import VariantTokenizer
from benchharness.errors import ModelError


class LogitsCausalLM:
    n_vocab: int

    def __init__(self, variant: Path) -> None:
        self._tokenizer = VariantTokenizer(variant)

    def _run(self, tokens: Sequence[int], fresh: bool, logits_from: int) -> npt.NDArray[np.float32]:
        """Feed `tokens` after the cached sequence (or into an empty one); logits of fed positions logits_from.."""
        raise NotImplementedError

    def tokenize(self, text: str) -> list[int]:
        return self._tokenizer(text)

    def prefill(self, tokens: Sequence[int]) -> int:
        return int(self._run(tokens, fresh=True, logits_from=len(tokens) - 1)[-1].argmax())

    def fill(self, tokens: Sequence[int]) -> None:
        self._run(tokens, fresh=True, logits_from=len(tokens) - 1)

    def extend(self, tokens: Sequence[int]) -> int:
        return int(self._run(tokens, fresh=False, logits_from=len(tokens) - 1)[-1].argmax())

    def decode(self, token: int) -> int:
        return int(self._run((token,), fresh=False, logits_from=0)[-1].argmax())

    def score(self, tokens: Sequence[int], first: int) -> npt.NDArray[np.float32]:
        logits = self._run(tokens[:-1], fresh=True, logits_from=first)
        if logits.shape[0] != len(tokens) - 1 - first:
            raise ModelError(
                f"asked for the logits of {len(tokens) - 1 - first} positions, got {logits.shape[0]}; "
                "this export slices its logits itself: re-export it without slicing"
            )
        # A copy: a runtime may reuse the output buffer on its next call.
        return np.array(logits, dtype=np.float32)
