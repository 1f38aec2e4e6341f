"""What a gate is: the Gate base class, the evidence it judges, and the helpers every gate's estimator shares.

A gate used to be a name in a tuple plus parallel dicts (bounds, default minimums, judge functions, which
gates a re-run can confirm) and string comparisons in a dozen modules; a new gate meant finding them all.
Now each gate is one frozen object that says everything about itself, and every other module asks it.
Estimators are pure: measurements in, a Verdict out; no files, clocks or processes.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Literal

from benchharness import stats, units
from benchharness.gates.rule import GateRule
from benchharness.readings import Measurement
from benchharness.verdicts import Verdict

if TYPE_CHECKING:  # types only: kinds and the protocol import config, which imports the gates
    from benchharness.kinds.base import ModelKind
    from benchharness.protocol import PairedTiming


@dataclass(frozen=True)
class GateEvidence:
    """Everything measured for one variant against its reference in this session."""

    label: str  # the variant's label (q4_0, int8): what known breaches and a rule's variants name
    reference_label: str
    kind: ModelKind
    variant: Sequence[Measurement]  # its own children; the first also scored accuracy
    reference: Sequence[Measurement]
    pairs: Sequence[PairedTiming] = ()
    device: str = "cpu"  # the case's device: a CUDA case's memory gate compares its memory on the board


@dataclass(frozen=True)
class Gate(ABC):
    """One gate: what it judges, how, and the policy defaults a suite starts from.

    A new gate is one subclass (set the class attributes, write `judge`) and one `register(...)` line in
    benchharness/gates/__init__.py (or a project's conftest.py). The TOML key and `--gate NAME=MIN` are its `name`.

    Every gate judges a ratio where higher is better against a minimum (stats.decide: pass when the interval
    lies above it). A cap is its inverse: "load time at most 5x the reference's" is a load-time speedup of at
    least 0.2, as `speedup` is the variant's decode speed over the reference's. One direction keeps the
    baseline's ratio tracking (`times_better`) and every report's reading of "worse" the same for all gates.
    """

    name: ClassVar[str]
    description: ClassVar[str]  # one line, for a reader choosing gates
    default_minimum: ClassVar[float]  # the threshold when a suite names the gate without `min`
    upper_bound: ClassVar[float]  # the largest `min` that means anything (a kept share cannot pass 1.0)
    on_by_default: ClassVar[bool] = True  # judged when a suite declares no gates table for it
    # A re-run in fresh children can confirm a failure: false where the figure is deterministic (accuracy
    # scores the same items the same way every time), true where it moves with the machine.
    confirmable: ClassVar[bool] = True
    # Judged from interleaved A-B-B-A timed pairs (a speed figure): the session buys more pairs while it is
    # inconclusive, confirms a failure with a fresh block of pairs, and notes hypervisor steal on it.
    paired: ClassVar[bool] = False
    unit: ClassVar[Literal["x", "fraction"]] = "fraction"  # "x": a ratio of speeds; "fraction": a share kept or cut
    fmt: ClassVar[str] = ".0%"  # how its estimate is printed, in verdicts and the terminal table
    column: ClassVar[str | None] = None  # the terminal table's header for it; None: not a column there
    axis_label: ClassVar[str]  # the report's gate figure's panel title
    display_rank: ClassVar[int] = 100  # where its column and panel sit in reports (speed first)
    # What `figure = ...` in its table may name, and the reading each choice judges (None: its default).
    figures: ClassVar[Mapping[str, str | None]] = {}

    def figure(self, kind: ModelKind) -> str:
        """The figure this gate judges for a model kind (the kind's own table: top-1, decode tok/s, ...)."""
        return kind.gate_metrics[self.name]

    def judged_figure(self, rule: GateRule, evidence: GateEvidence) -> str:
        """The figure judged for this rule and evidence; the kind's unless the gate knows better."""
        return self.figure(evidence.kind)

    def show(self, value: float) -> str:
        """Its figure as verdicts, tables and pages print it: '1.84x', '99.2%', '75%'.

        `fmt` fits the gate's usual figures and round thresholds ('min 60%'); at least 2 significant digits
        are kept, so a figure far below them never reads as zero (a 0.4% memory cut is '0.40%', not '0%').
        """
        return units.fixed(value, self.fmt, digits=2) + ("x" if self.unit == "x" else "")

    def times_better(self, ratio: float) -> float:
        """Its ratio on a multiplicative scale where higher is better, so `min_effect` means the same for all."""
        return ratio

    @abstractmethod
    def judge(self, rule: GateRule, evidence: GateEvidence, confidence: float) -> Verdict:
        """The verdict of `rule` on `evidence`: its estimate, interval, and pass/fail/inconclusive/unavailable."""

    def verdict(self, rule: GateRule, interval: stats.Interval, detail: str, e: GateEvidence) -> Verdict:
        """The verdict an interval gives against the rule's minimum, with the message every gate shares."""
        decision = stats.decide(interval, rule.minimum)
        known = rule.known_breach(e.label, e.device)
        label = rule.name.replace("_", " ")
        show = self.show
        text = (
            f"{label} {show(interval.estimate)} [{show(interval.low)}, {show(interval.high)}] "
            f"(min {show(rule.minimum)}, {interval.n} {detail}): {decision}"
        )
        if known:
            text += (
                " [known breach, declared by the suite]"
                if decision != "pass"
                else (" [declared a known breach but passed: remove it from the suite's known_breaches]")
            )
        return Verdict(
            "gate",
            rule.name,
            decision,
            text,
            interval.estimate,
            interval.low,
            interval.high,
            rule.minimum,
            interval.n,
            interval.method,
            known,
        )


@dataclass(frozen=True)
class Reduction(Gate):
    """A gate on 1 - variant / reference of a figure each side's solo children read (memory, energy)."""

    def times_better(self, ratio: float) -> float:
        """How many times smaller the variant is, 1 / (1 - x): 0.306 -> 0.288 is 2.6% on that scale, not 6%."""
        return 1.0 / max(1.0 - ratio, 1e-9)

    def judge(self, rule: GateRule, evidence: GateEvidence, confidence: float) -> Verdict:
        metric = self.judged_figure(rule, evidence)
        return self.reduction(rule, evidence, metric, confidence, lambda v, r: self.describe(metric, v, r, evidence))

    @abstractmethod
    def describe(self, metric: str, variant_mean: float, reference_mean: float, e: GateEvidence) -> str:
        """The figures behind the ratio (each side's mean), appended to the verdict's message."""

    def reduction(
        self,
        rule: GateRule,
        e: GateEvidence,
        metric: str,
        confidence: float,
        describe: Callable[[float, float], str],
    ) -> Verdict:
        """1 - variant / reference for a figure each side's solo children read (memory, energy per token).

        The estimate is the ratio of the means; the interval is the range over the children measured, from
        the most pessimistic pairing to the most optimistic. `describe(variant_mean, reference_mean)` words
        the figures behind it for the message.
        """
        v = [x for m in e.variant if (x := m.value(metric)) is not None]
        r = [x for m in e.reference if (x := m.value(metric)) is not None and x > 0]
        if not v or not r:
            return unavailable(rule, metric, why_missing(e.variant if not v else e.reference, metric))
        v_mean, r_mean = math.fsum(v) / len(v), math.fsum(r) / len(r)
        interval = stats.Interval(
            1 - v_mean / r_mean,
            1 - max(v) / min(r),
            1 - min(v) / max(r),
            min(len(v), len(r)),
            confidence,
            f"range over {len(v)} variant and {len(r)} reference children",
        )
        verdict = self.verdict(rule, interval, "child" if interval.n == 1 else "children", e)
        return replace(verdict, message=verdict.message + describe(v_mean, r_mean))


SHORT_NAMES = {
    "top1_accuracy": "top-1",
    "retrieval_top1": "retrieval top-1",
    "heldout_accuracy": "held-out accuracy",
    "answer_exact_match": "exact answers",
    "decode_tok_per_s": "decode",
    "batch32_items_per_s": "batch-32 throughput",
    "peak_rss_bytes": "peak RSS",
    "model_memory_bytes": "model memory",
    "gpu_memory_bytes": "GPU memory (process)",
    "gpu_model_memory_bytes": "GPU memory (model)",
}


def unavailable(rule: GateRule, metric: str, why: str) -> Verdict:
    """A gate that cannot be judged says so, with the reason: never a silent pass."""
    return Verdict(
        "gate", rule.name, "unavailable", f"{rule.name}: {metric} unavailable ({why})", threshold=rule.minimum
    )


def why_missing(measurements: Sequence[Measurement], metric: str) -> str:
    """The first unavailable reading's reason for `metric`, else 'not measured'."""
    for m in measurements:
        reading = m.readings.get(metric)
        if reading is not None and not reading.available:
            return reading.unavailable_reason or "not measured"
    return "not measured"
