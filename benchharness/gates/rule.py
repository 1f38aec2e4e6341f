"""Gate policy as a suite declares it: which gate, its threshold, the variants it applies to.

What each gate is (its figure, estimator, defaults) lives on its Gate object (base.py and one module per
gate); a rule is only what a suite says about one gate, so config parsing and the judge share it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class GateRule:
    """One gate as a suite declares it: threshold, the variants it applies to, known breaches.

    `known_breaches` are decisive breaches the suite keeps for information (shown as XFAIL), for a variant
    everywhere (`q4_0`) or on one device type (`q4_0@cuda`). One that
    stops happening is an unexpected pass (XPASS) and a policy to update. There is no 'borderline'
    list: a figure near the line gets an interval that straddles it, and the verdict says so.
    """

    name: str
    minimum: float
    variants: tuple[str, ...] | None = None  # None: every non-reference variant
    known_breaches: tuple[str, ...] = ()
    metric: str | None = None  # None: the kind's own figure for this gate (memory: the model's own memory)

    def applies_to(self, variant: str) -> bool:
        return self.variants is None or variant in self.variants

    def known_breach(self, variant: str, device: str) -> bool:
        """Whether the suite declares this variant's breach: everywhere (`q4_0`) or on one device type (`q4_0@cuda`).

        A device-type entry states intent about a class of hardware (on a GPU a 135M model is not
        bandwidth-bound, so 4-bit weights buy no decode speed), never one machine's figures.
        """
        device_type = device.partition(":")[0]
        return variant in self.known_breaches or f"{variant}@{device_type}" in self.known_breaches


def override_minimums(rules: Sequence[GateRule], overrides: Mapping[str, float]) -> tuple[GateRule, ...]:
    """Rules with command-line thresholds applied (`--gate speedup=2.5`)."""
    return tuple(replace(r, minimum=overrides.get(r.name, r.minimum)) for r in rules)
