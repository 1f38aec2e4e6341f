"""llama.cpp with a planted per-token delay, for proving what the regression check catches.

Registered as backend `llamacpp-planted`: the real llama.cpp model and weights, plus a sleep of
PLANTED_DELAY_S seconds in every decode step. A sleep, not a busy-wait: on a 2-core machine a Python
busy-wait competes with llama.cpp's own spinning worker thread, and a planted 3% became a measured 33%.
The sleep overshoots by tens of microseconds, so the benchmark reports the slowdown it measured next to
the one it planted. PLANTED_DELAY_S=0 is plain llama.cpp. PLANTED_ONLY (e.g. "q4_0") plants the delay only in
model files whose name starts with it, so the reference stays as it was and the variant alone regresses.
PLANTED_AFTER_S (e.g. "5") plants it only once that many seconds have passed since the model was loaded: a
device that slows under sustained load, for the sustained profile's drop detection.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import ClassVar

from benchharness.backends import register
from benchharness.backends.base import LoadOptions
from benchharness.backends.llamacpp import LlamaCppBackend, LlamaCppModel


class PlantedModel(LlamaCppModel):
    def __init__(self, path: Path, device: str, options: LoadOptions) -> None:
        super().__init__(path, device, options)
        only = os.environ.get("PLANTED_ONLY", "")
        planted = path.name.lower().startswith(only.lower())
        self.delay_s = float(os.environ.get("PLANTED_DELAY_S", "0")) if planted else 0.0
        self.slow_from = time.perf_counter() + float(os.environ.get("PLANTED_AFTER_S", "0"))

    def decode(self, token: int) -> int:
        if self.delay_s and time.perf_counter() >= self.slow_from:
            time.sleep(self.delay_s)
        return super().decode(token)


@register
class PlantedBackend(LlamaCppBackend):
    name: ClassVar[str] = "llamacpp-planted"

    def load(self, path: Path, device: str, options: LoadOptions) -> PlantedModel:
        return PlantedModel(path, device, options)
