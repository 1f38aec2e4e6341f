"""The gates: one object per gate (what it judges, its estimator and interval, its defaults) in one registry.

Adding a gate is one module with one Gate subclass (base.py says what to set) and one `register` line
below. Everything else (the TOML keys, `--gate`, the judge, the session's confirmation, the reports) asks
the registry, never a gate name spelt as a string.
"""

from benchharness.gates.accuracy import AccuracyRetained
from benchharness.gates.base import Gate, GateEvidence, Reduction
from benchharness.gates.energy import EnergyReduction
from benchharness.gates.memory import MemoryReduction
from benchharness.gates.registry import (
    REGISTRY,
    all_gates,
    default_rules,
    find_gate,
    gate_named,
    in_display_order,
    names,
    register,
)
from benchharness.gates.rule import GateRule, override_minimums
from benchharness.gates.speedup import Speedup

ACCURACY_RETAINED = register(AccuracyRetained())
SPEEDUP = register(Speedup())
MEMORY_REDUCTION = register(MemoryReduction())
ENERGY_REDUCTION = register(EnergyReduction())

__all__ = [
    "ACCURACY_RETAINED",
    "ENERGY_REDUCTION",
    "MEMORY_REDUCTION",
    "REGISTRY",
    "SPEEDUP",
    "Gate",
    "GateEvidence",
    "GateRule",
    "Reduction",
    "all_gates",
    "default_rules",
    "find_gate",
    "gate_named",
    "in_display_order",
    "names",
    "override_minimums",
    "register",
]
