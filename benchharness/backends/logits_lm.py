"""Greedy generation for runtimes that return logits for every position fed (ONNX Runtime, OpenVINO).

A subclass only says how to run tokens after the cached sequence (or into a fresh one); prefill,
decode and scoring are the same on top of that, so the two runtimes cannot drift apart in what
their rows mean.
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

    def _run(self, tokens: Sequence[int], fresh: bool) -> npt.NDArray[np.float32]:
        """Feed `tokens` after the cached sequence (or into an empty one); logits (len(tokens), n_vocab)."""
        raise NotImplementedError

    def tokenize(self, text: str) -> list[int]:
        return self._tokenizer(text)

    def prefill(self, tokens: Sequence[int]) -> int:
        return int(self._run(tokens, fresh=True)[-1].argmax())

    def decode(self, token: int) -> int:
        return int(self._run((token,), fresh=False)[-1].argmax())

    def score(self, tokens: Sequence[int], first: int) -> npt.NDArray[np.float32]:
        logits = self._run(tokens[:-1], fresh=True)
        if logits.shape[0] != len(tokens) - 1:
            raise ModelError("this export returns logits for the last position only; re-export it without slicing")
        # A copy: a runtime may reuse the output buffer on its next call.
        return np.array(logits[first:], dtype=np.float32)
