"""llama.cpp with a planted per-token delay, for proving what the regression check catches.

Registered as backend `llamacpp-planted`: the real llama.cpp model and weights, plus a busy-wait of
PLANTED_DELAY_S seconds in every decode step (a busy-wait, not a sleep: it costs CPU time the way
a slower kernel would, and is precise to microseconds). PLANTED_DELAY_S=0 is plain llama.cpp.
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
        self.delay_s = float(os.environ.get("PLANTED_DELAY_S", "0"))

    def decode(self, token: int) -> int:
        if self.delay_s:
            until = time.perf_counter() + self.delay_s
            while time.perf_counter() < until:
                pass
        return super().decode(token)


@register
class PlantedBackend(LlamaCppBackend):
    name: ClassVar[str] = "llamacpp-planted"

    def load(self, path: Path, device: str, options: LoadOptions) -> PlantedModel:
        return PlantedModel(path, device, options)
