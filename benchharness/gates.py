"""Gate policy as a suite declares it: which gate, its threshold, the variants it applies to.

The maths that turns measurements into verdicts lives in judge.py; this module is only the policy's
vocabulary, so config parsing and the judge share one definition of every gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class GateRule:
    """One gate as a suite declares it: threshold, the variants it applies to, known breaches.

    `known_breaches` are decisive breaches the suite keeps for information (shown as XFAIL), for a variant
    everywhere (`q4_0`) or on one device kind (`q4_0@cuda`). One that
    stops happening is an unexpected pass (XPASS) and a policy to update. There is no 'borderline'
    list: a figure near the line gets an interval that straddles it, and the verdict says so.
    """

    name: str
    minimum: float
    quants: tuple[str, ...] | None = None  # None: every non-reference variant
    known_breaches: tuple[str, ...] = ()
    metric: str | None = None  # None: the kind's own figure for this gate (memory: the model's own memory)

    def applies_to(self, quant: str) -> bool:
        return self.quants is None or quant in self.quants

    def known_breach(self, quant: str, device: str) -> bool:
        """Whether the suite declares this variant's breach: everywhere (`q4_0`) or on one device kind (`q4_0@cuda`).

        A device-kind entry states intent about a class of hardware (on a GPU a 135M model is not
        bandwidth-bound, so 4-bit weights buy no decode speed), never one machine's figures.
        """
        kind = device.partition(":")[0]
        return quant in self.known_breaches or f"{quant}@{kind}" in self.known_breaches


GATES: tuple[str, ...] = ("accuracy_retained", "speedup", "memory_reduction", "energy_reduction")
GATE_UPPER_BOUNDS: dict[str, float] = {
    "accuracy_retained": 1.0,
    "speedup": 1000.0,
    "memory_reduction": 1.0,
    "energy_reduction": 1.0,
}
# Thresholds a gate gets when a suite names it without `min`. energy_reduction is off unless a suite names it:
# most machines have no energy counter, and a declared gate that cannot be judged fails its case.
GATE_DEFAULT_MINIMUMS: dict[str, float] = {
    "accuracy_retained": 0.95,
    "speedup": 2.0,
    "memory_reduction": 0.5,
    "energy_reduction": 0.5,
}

# What `figure = ...` in a memory_reduction table may name: the model's own memory where it lives (the
# default, None: its share of resident memory, or on a CUDA case its process's memory on the board), the
# whole process's resident high-water mark (Python and the runtime included), or the GPU memory always.
MEMORY_FIGURES: dict[str, str | None] = {"model": None, "process": "peak_rss_bytes", "gpu": "gpu_memory_bytes"}

DEFAULT_GATES: tuple[GateRule, ...] = (
    GateRule("accuracy_retained", 0.95),
    GateRule("speedup", 2.0),
    GateRule("memory_reduction", 0.5),
)


def override_minimums(rules: Sequence[GateRule], overrides: Mapping[str, float]) -> tuple[GateRule, ...]:
    """Rules with command-line thresholds applied (`--gate speedup=2.5`)."""
    return tuple(replace(r, minimum=overrides.get(r.name, r.minimum)) for r in rules)
