"""The one registry of gates: name -> Gate, in the order suites' verdicts are judged and listed."""

from __future__ import annotations

from typing import TypeVar

from benchharness.errors import ConfigError
from benchharness.gates.base import Gate
from benchharness.gates.rule import GateRule

REGISTRY: dict[str, Gate] = {}
G = TypeVar("G", bound=Gate)


def register(gate: G) -> G:
    """Add a gate (returned, so its module can keep a name for it); a second gate of one name is an error."""
    if gate.name in REGISTRY:
        raise ConfigError(
            f"gate {gate.name!r} is registered twice ({type(REGISTRY[gate.name]).__name__} and "
            f"{type(gate).__name__}); give the new gate another name"
        )
    REGISTRY[gate.name] = gate
    return gate


def names() -> tuple[str, ...]:
    """Every gate's name, in registration order (the order `--gate`'s help lists them)."""
    return tuple(REGISTRY)


def all_gates() -> tuple[Gate, ...]:
    return tuple(REGISTRY.values())


def gate_named(name: str) -> Gate:
    """The gate of a name the harness itself produced (a rule, a verdict of this run); unknown is an error."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown gate {name!r}; valid gates: {', '.join(sorted(REGISTRY))}") from None


def find_gate(name: str) -> Gate | None:
    """The gate of a name read back from a file (results, history), or None for one this version lacks."""
    return REGISTRY.get(name)


def in_display_order() -> tuple[Gate, ...]:
    """Gates in the order reports show them: speed first, as a reader scans for it."""
    return tuple(sorted(REGISTRY.values(), key=lambda g: g.display_rank))


def default_rules() -> tuple[GateRule, ...]:
    """The rules a suite gets without a gates table: every gate on by default, at its default minimum."""
    return tuple(GateRule(g.name, g.default_minimum) for g in REGISTRY.values() if g.on_by_default)
