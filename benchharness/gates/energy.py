"""energy_reduction: 1 - variant energy per token (item) / the reference's, from a hardware counter only."""

from __future__ import annotations

from dataclasses import dataclass

from benchharness.gates.base import GateEvidence, Reduction


@dataclass(frozen=True)
class EnergyReduction(Reduction):
    """Off unless a suite names it: most machines have no energy counter, and a declared gate that cannot be
    judged fails its case. An asked-for estimate lives in `estimated_*` readings, so it can never stand in."""

    name = "energy_reduction"
    description = "the share of the reference's energy per token (item) the variant saves, from a counter"
    default_minimum = 0.5
    upper_bound = 1.0
    on_by_default = False
    axis_label = "energy per token (item) cut"
    display_rank = 3

    def describe(self, metric: str, variant_mean: float, reference_mean: float, e: GateEvidence) -> str:
        return f"; {metric} {variant_mean:.4g} J vs reference {e.reference_label} {reference_mean:.4g} J"
