"""Gates: an optimized variant against its reference, measured in the same session.

Pure functions from two Measurements and a policy to Verdicts; the plugin decides what a breach
does to the pytest outcome. A verdict message names metric, value, threshold and reference value,
because that single line is what a reader of a failed nightly run sees first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from benchharness.readings import METRICS, Measurement

Status = Literal["pass", "breach", "unavailable"]
Expectation = Literal["known breach", "borderline"]

# What a declared breach adds to its verdict's message.
EXPECTATION_NOTES: dict[str, str] = {
    "known breach": " [known breach, declared by the suite]",
    "borderline": " [borderline on this machine, declared by the suite]",
}


@dataclass(frozen=True)
class GateRule:
    """One gate as a suite declares it: threshold, the variants it applies to, known breaches."""

    name: str
    minimum: float
    quants: tuple[str, ...] | None = None  # None: every non-reference variant
    known_breaches: tuple[str, ...] = ()  # variants expected to breach (shown, xfail; a pass fails)
    borderline: tuple[str, ...] = ()  # variants measured on the line on this machine: a breach is xfail

    def applies_to(self, quant: str) -> bool:
        return self.quants is None or quant in self.quants

    def expectation(self, quant: str) -> Expectation | None:
        """What the suite declared about `quant` breaching this gate, if anything."""
        if quant in self.known_breaches:
            return "known breach"
        if quant in self.borderline:
            return "borderline"
        return None


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check (a gate or a baseline comparison) for one case."""

    kind: Literal["gate", "baseline"]
    name: str
    status: Status
    message: str
    value: float | None = None
    threshold: float | None = None
    reference: float | None = None
    expected: Expectation | None = None  # set on a breach the suite declared

    @property
    def known(self) -> bool:
        """A breach the suite declared (known or borderline): reported, but not a failure."""
        return self.expected is not None

    @property
    def unexpected_breach(self) -> bool:
        return self.status == "breach" and not self.known


@dataclass(frozen=True)
class GateDefinition:
    """How a gate turns a variant and its reference into one ratio, and how to explain it."""

    ratio: Callable[[float, float], float]
    describe: Callable[[str, float, float, float, float, str], str] = field(repr=False)


# Short names for gate messages; units come from the metric catalogue.
SHORT_NAMES = {
    "top1_accuracy": "top-1",
    "retrieval_top1": "retrieval top-1",
    "heldout_accuracy": "held-out accuracy",
    "decode_tok_per_s": "decode",
    "batch32_items_per_s": "batch-32 throughput",
    "batch1_items_per_s": "batch-1 throughput",
    "peak_rss_bytes": "peak RSS",
}

# Which metric each gate compares, by model kind.
GATE_METRICS: dict[str, dict[str, str]] = {
    "causal-lm": {
        "accuracy_retained": "top1_accuracy",
        "speedup": "decode_tok_per_s",
        "memory_reduction": "peak_rss_bytes",
    },
    "encoder": {
        "accuracy_retained": "retrieval_top1",
        "speedup": "batch32_items_per_s",
        "memory_reduction": "peak_rss_bytes",
    },
    "classifier": {
        "accuracy_retained": "heldout_accuracy",
        "speedup": "batch32_items_per_s",
        "memory_reduction": "peak_rss_bytes",
    },
}


def _accuracy_text(metric: str, ratio: float, minimum: float, value: float, reference: float, ref_label: str) -> str:
    name = SHORT_NAMES.get(metric, metric)
    return f"accuracy retained {ratio:.1%} (min {minimum:.1%}): {name} {value:.2%} vs reference {ref_label} {reference:.2%}"


def _speedup_text(metric: str, ratio: float, minimum: float, value: float, reference: float, ref_label: str) -> str:
    name, unit = SHORT_NAMES.get(metric, metric), METRICS[metric].unit if metric in METRICS else ""
    return (
        f"speedup {ratio:.2f}x (min {minimum:.2f}x): {name} {value:.1f} {unit} "
        f"vs reference {ref_label} {reference:.1f} {unit}"
    )


def _memory_text(metric: str, ratio: float, minimum: float, value: float, reference: float, ref_label: str) -> str:
    name = SHORT_NAMES.get(metric, metric)
    return (
        f"memory reduction {ratio:.1%} (min {minimum:.1%}): {name} {value / 2**20:.0f} MiB "
        f"vs reference {ref_label} {reference / 2**20:.0f} MiB"
    )


GATES: dict[str, GateDefinition] = {
    "accuracy_retained": GateDefinition(lambda v, r: v / r, _accuracy_text),
    "speedup": GateDefinition(lambda v, r: v / r, _speedup_text),
    "memory_reduction": GateDefinition(lambda v, r: 1.0 - v / r, _memory_text),
}

DEFAULT_GATES: tuple[GateRule, ...] = (
    GateRule("accuracy_retained", 0.95),
    GateRule("speedup", 2.0),
    GateRule("memory_reduction", 0.5),
)


def judge_gates(
    variant: Measurement,
    reference: Measurement,
    *,
    quant: str,
    reference_label: str,
    rules: Sequence[GateRule],
    metrics: Mapping[str, str] = GATE_METRICS["causal-lm"],
) -> list[Verdict]:
    """Verdicts of every rule that applies to `quant`; a missing figure is 'unavailable', not a pass."""
    verdicts: list[Verdict] = []
    for rule in rules:
        if not rule.applies_to(quant):
            continue
        definition = GATES[rule.name]
        metric = metrics[rule.name]
        value = variant.value(metric)
        ref_value = reference.value(metric)
        if value is None or ref_value is None or ref_value == 0:
            missing = variant if value is None else reference
            reading = missing.readings.get(metric)
            why = reading.unavailable_reason if reading else "not measured"
            verdicts.append(Verdict("gate", rule.name, "unavailable", f"{rule.name}: {metric} unavailable ({why})"))
            continue
        ratio = definition.ratio(value, ref_value)
        passed = ratio >= rule.minimum
        text = definition.describe(metric, ratio, rule.minimum, value, ref_value, reference_label)
        expected = None if passed else rule.expectation(quant)
        verdicts.append(
            Verdict(
                "gate",
                rule.name,
                "pass" if passed else "breach",
                text + (EXPECTATION_NOTES[expected] if expected else ""),
                value=ratio,
                threshold=rule.minimum,
                reference=ref_value,
                expected=expected,
            )
        )
    return verdicts


def stale_known_breaches(quant: str, rules: Sequence[GateRule], verdicts: Sequence[Verdict]) -> list[str]:
    """Known breaches that no longer happen: the suite's policy is out of date and should say so."""
    passed = {v.name for v in verdicts if v.kind == "gate" and v.status == "pass"}
    return [
        f"{rule.name} was declared a known breach for {quant} but now passes; remove it from the suite's known_breaches"
        for rule in rules
        if quant in rule.known_breaches and rule.name in passed
    ]


def override_minimums(rules: Sequence[GateRule], overrides: Mapping[str, float]) -> tuple[GateRule, ...]:
    """Rules with command-line thresholds applied (`--gate speedup=2.5`)."""
    return tuple(replace(r, minimum=overrides.get(r.name, r.minimum)) for r in rules)
