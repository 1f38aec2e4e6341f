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

    `known_breaches` are decisive breaches the suite keeps for information (shown as XFAIL). One that
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

# What `figure = ...` in a memory_reduction table may name: the model's own memory (the default), or the
# whole process's high-water mark (Python and the runtime included).
MEMORY_FIGURES: dict[str, str] = {"model": "model_memory_bytes", "process": "peak_rss_bytes"}

DEFAULT_GATES: tuple[GateRule, ...] = (
    GateRule("accuracy_retained", 0.95),
    GateRule("speedup", 2.0),
    GateRule("memory_reduction", 0.5),
)


def override_minimums(rules: Sequence[GateRule], overrides: Mapping[str, float]) -> tuple[GateRule, ...]:
    """Rules with command-line thresholds applied (`--gate speedup=2.5`)."""
    return tuple(replace(r, minimum=overrides.get(r.name, r.minimum)) for r in rules)
