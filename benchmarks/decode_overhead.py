"""How much time the harness itself adds to each decode step (argmax over logits, batch filling).

If this is a tiny fraction of a step, any harness-vs-llama-bench gap is the machine, not the harness.

    python3 benchmarks/decode_overhead.py
"""

from __future__ import annotations

import time

from benchharness.backends.base import LoadOptions
from benchharness.backends.llamacpp import LlamaCppBackend
from benchharness.models.prepare import Preparer
from benchharness.models.registry import builtin_models
from benchharness.settings import default_cache_dir

CALLS = 2000


def main() -> None:
    path = Preparer(default_cache_dir(), 2, 600, print).prepare(builtin_models()["smollm2-135m"], "gguf", "q4_0").path
    model = LlamaCppBackend().load(path, "cpu", LoadOptions(threads=2, n_ctx=256, n_batch=128))
    token = model.prefill(list(range(1000, 1128)))
    started = time.perf_counter()
    for _ in range(CALLS):
        model._argmax_last()
    argmax_us = (time.perf_counter() - started) / CALLS * 1e6
    started = time.perf_counter()
    for _ in range(64):
        token = model.decode(token)
    step_us = (time.perf_counter() - started) / 64 * 1e6
    model.close()
    print(
        f"argmax over logits: {argmax_us:.1f} us per step; a whole q4_0 decode step: {step_us:.0f} us "
        f"({argmax_us / step_us:.2%} of it)"
    )


if __name__ == "__main__":
    main()
