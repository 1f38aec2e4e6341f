"""The judge: measurements in, verdicts out. Pure functions, no files, clocks or processes.

Every verdict has one of four states, and every gate verdict carries its evidence (estimate,
interval, how many pairs or items, the rule applied):

- pass: the interval clears the threshold;
- fail: the interval lies wholly on the wrong side;
- inconclusive: it straddles the threshold (the session buys more pairs first, then reports it);
- unavailable: a figure the gate needs was not measured, with the reason. Never a silent pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from benchharness import stats, units
from benchharness.baseline_entry import BaselineEntry, StoredMetric, defining_settings
from benchharness.gates import GateEvidence, GateRule, find_gate, gate_named
from benchharness.gates.base import why_missing
from benchharness.readings import RETIRED, Measurement, metric_spec
from benchharness.settings import BaselineSettings
from benchharness.verdicts import Direction, Status, Verdict


def judge_gates(rules: Sequence[GateRule], evidence: GateEvidence, confidence: float) -> list[Verdict]:
    """Verdicts of every rule that applies to the variant, each from its gate's own estimator."""
    return [gate_named(r.name).judge(r, evidence, confidence) for r in rules if r.applies_to(evidence.label)]


def across_runs(verdict: Verdict, earlier: Sequence[float]) -> Verdict:
    """A decisive speed or memory gate verdict held against this machine's earlier runs of the same gate ratio.

    A gate's interval comes from one run's pairs (or children), which share the machine's state of that
    moment. On a shared host the state moves between runs: in issue 21's quiet A/A every FP32 decode row
    fell 22-27% between two runs of unchanged code while the 4-bit rows fell 8-20%, so a bandwidth-bound
    reference moved a speedup from 2.13x to 1.60x (benchmarks/results/aa_stability_nommap.md), and ONNX
    Runtime's prepacking moved an INT4 memory cut from 43% to 56%: the gates flipped. With `earlier` holding
    the case's ratio in this machine's last runs (the history store, at least stats.MIN_REPLICATES of them),
    a pass whose earlier runs include one under the line, or a fail whose earlier runs include one at or
    over it, is inconclusive: the ratio has landed on both sides on this machine, so which side this run
    lands on says more about the machine's state than the code. A gate whose runs all fell on one side
    keeps its verdict (a prediction interval from the runs' spread, Student's t with 2 degrees of freedom,
    was tried live and made ONNX Runtime GenAI's INT4 speedup inconclusive at 3.38x after runs of 2.51-3.34x
    against a 2x line: benchmarks/results/aa_stability_shared_history.md). The replay of five recorded runs
    (benchmarks/results/aa_stability_replay.md): 18 pass <-> fail flips without the rule, 6 with it, all six
    among the first three runs, before any case had three earlier runs. A real change is still called by the
    ratio check against the baseline (judge_ratios). Other verdicts, or too little history, are returned as
    they are.
    """
    values = [x for x in earlier if x > 0 and math.isfinite(x)]
    if (
        verdict.check != "gate"
        or verdict.status not in ("pass", "fail")
        or verdict.threshold is None
        or len(values) < stats.MIN_REPLICATES
    ):
        return verdict
    other_side = [x for x in values if (x < verdict.threshold) == (verdict.status == "pass")]
    if not other_side:
        return verdict
    note = (
        f" -- across runs: inconclusive: this machine's last {len(values)} runs read this ratio "
        f"{min(values):.3g}-{max(values):.3g}, {len(other_side)} of them on the other side of the "
        f"{verdict.threshold:.3g} line: the side a run lands on moves with the machine, not the code"
    )
    return replace(verdict, status="inconclusive", message=verdict.message + note, rule=verdict.rule + "; across runs")


def judge_limits(limits: dict[str, float], measurement: Measurement) -> list[Verdict]:
    """Absolute ceilings a suite states as intent (e.g. `load_ms = 5000`): each reading at or under its limit."""
    verdicts = []
    for metric, ceiling in sorted(limits.items()):
        value = measurement.value(metric)
        if value is None:
            verdicts.append(
                Verdict("limit", metric, "unavailable", f"{metric}: unavailable ({why_missing([measurement], metric)})")
            )
            continue
        ok = value <= ceiling
        unit = spec.unit if (spec := metric_spec(metric)) else ""
        text = f"{metric} {value:.1f} {unit} (max {ceiling:g} {unit}): {'pass' if ok else 'fail'}"
        verdicts.append(Verdict("limit", metric, "pass" if ok else "fail", text, value, threshold=ceiling, n=1))
    return verdicts


# ---------------------------------------------------------------------------------------------
# Regressions against the stored baseline


@dataclass(frozen=True)
class Replicates:
    """Per figure, the other runs and children beside the two compared: where the between-run spread is learnt.

    `before`: the same machine's other runs of the case (its history) and the old side's other children;
    `after`: the new side's other children (a confirmation). Gate ratios are keyed `gate:<name>`, as in
    the history store. Empty: the between-run spread is unknown, and only a move past `run_factor` is called.
    """

    before: Mapping[str, Sequence[float]] = field(default_factory=dict)
    after: Mapping[str, Sequence[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class RunDecision:
    """Whether a change the rounds showed is also past the between-run noise ("not compared": it cannot be asked)."""

    direction: Direction | Literal["not compared"]
    reason: str


@dataclass(frozen=True)
class Sides:
    """What a verdict's message calls the two sides it compares, and what it tells a reader to redo on the old one.

    The rule is shared: the baseline check holds a run against the stored baseline, `compare` holds the new run
    against the old one. A compare line that said "baseline 82%" or "re-record it" named a file that was not
    involved, so each caller names its sides.
    """

    old: str = "baseline"  # bare, as a label ("baseline 82%, this run 74%"); `the_old` mid-sentence
    new: str = "this run"
    redo: str = "Re-record with --save-baseline"  # the old side cannot be compared as it was recorded
    redo_quiet: str = "re-record it on a quiet machine"  # the old side was measured beside other work

    @property
    def the_old(self) -> str:
        """The old side mid-sentence ("vs the baseline 12 ms")."""
        return f"the {self.old}"

    @property
    def the_new(self) -> str:
        """The new side mid-sentence: "this run" takes no article, "the new run" does."""
        return self.new if self.new.startswith("this ") else f"the {self.new}"


BASELINE_SIDES = Sides()
RUN_SIDES = Sides(
    "old run",
    "new run",
    "Re-run the old side with the new run's settings and benchharness version",
    "re-run it on a quiet machine",
)


def between_runs(
    name: str, old: float, new: float, replicates: Replicates | None, policy: BaselineSettings, worse_if_lower: bool
) -> RunDecision:
    """The between-run half of a regression: the run, not the round, as the unit of replication.

    With stats.MIN_REPLICATES or more runs of the figure known (history, children), a t-test over runs
    decides (and the change between runs must still pass `min_effect`). With fewer, the spread between runs
    is unknown: only a move by more than `run_factor` times is called, a smaller one is "unknown".
    The reason is the evidence alone: the caller's message names the outcome ("not decided", "within the
    between-run noise") once, where it composes its own words around it.
    """
    if not (old > 0 and new > 0):  # stats.run_shift works on logs: a zero or negative figure has no place there
        return RunDecision(
            "not compared",
            f"{old:.4g} -> {new:.4g}: not compared (a between-run comparison needs positive figures: a rate, a time, "
            "a size; a 0 or a negative one comes from a broken run or results file: see the case's outcome)",
        )
    r = replicates or Replicates()
    # Other runs with a non-positive figure (a crashed run that recorded 0) say nothing about the spread.
    reference = [*(x for x in r.before.get(name, ()) if x > 0), old]
    current = [new, *(x for x in r.after.get(name, ()) if x > 0)]
    shift = stats.run_shift(reference, current, alpha=policy.alpha)
    worse = (shift.change < 0) == worse_if_lower and shift.change != 0
    if shift.decided:
        assert shift.p_value is not None
        if shift.p_value < policy.alpha and abs(shift.change) > policy.min_effect:
            return RunDecision("regressed" if worse else "improved", shift.reason)
        return RunDecision("same", shift.reason)  # the reason alone; the caller's message says "within the noise"
    factor = max(new / old, old / new) if old > 0 and new > 0 else math.inf
    if factor > policy.run_factor:
        return RunDecision(
            "regressed" if worse else "improved",
            f"{shift.reason}; moved {factor:.2f}x, past run_factor {policy.run_factor:g}x",
        )
    return RunDecision(  # the reason alone; the caller's message says "not decided"
        "unknown",
        f"{shift.reason}, and {factor:.2f}x is under run_factor {policy.run_factor:g}x "
        "(keep a history of this machine's runs, or re-run to confirm)",
    )


def _samples(m: Measurement, metric: str) -> list[float]:
    samples = m.round_samples.get(metric)
    if samples:
        return list(samples)
    value = m.value(metric)
    return [] if value is None else [value]


def judge_baseline(
    current: Measurement,
    stored: BaselineEntry,
    workload_key: dict[str, object],
    policy: BaselineSettings,
    reference_moves: dict[str, float] | None = None,
    replicates: Replicates | None = None,
    sides: Sides = BASELINE_SIDES,
) -> list[Verdict]:
    """A verdict per tracked metric: regressed only past `min_effect`, significance over the rounds (asv's
    rule) *and* the between-run noise (`between_runs`, from `replicates`), else "unknown" where that
    noise cannot be known and the move is under `run_factor`.

    `reference_moves` holds, per metric, how far the variant's reference moved against its own
    baseline in this session; a variant that moved no more than its reference says 'machine moved'.
    `sides` names the two sides in the messages (`compare` passes RUN_SIDES: its old side is a run).
    """
    defining, stored_defining = defining_settings(workload_key), defining_settings(stored.workload_key)
    if stored_defining != defining:
        changed = sorted(k for k in set(defining) | set(stored_defining) if defining.get(k) != stored_defining.get(k))
        return [
            Verdict(
                "baseline",
                "settings",
                "unavailable",
                f"{sides.old} recorded with different workload settings ({', '.join(changed)}); not compared. "
                f"{sides.redo}",
            )
        ]
    verdicts: list[Verdict] = []
    loaded = _recorded_under_load(stored, policy, sides)
    for name, old in sorted(stored.metrics.items()):
        if name in RETIRED:
            message = f"{RETIRED[name]}; not compared. {sides.redo}"
            verdicts.append(Verdict("baseline", name, "unavailable", message))
            continue
        spec = metric_spec(name)
        if spec is None or not spec.tracked or spec.better == "neither" or not policy.compares(name):
            continue
        new = _samples(current, name)
        if not new:
            why = why_missing([current], name)
            text = f"{name}: in {sides.the_old} but not measured in {sides.the_new} ({why})"
            verdicts.append(Verdict("baseline", name, "unavailable", text))
            continue
        if spec.deterministic:
            verdicts.append(_deterministic(name, old, current, spec.better == "higher", spec.unit, policy, sides))
            continue
        old_samples = list(old.samples) or [old.value]
        now = current.readings.get(name)
        noisy = bool(old.stdev) or len(new) > 1 or (now is not None and bool(now.stdev))
        if noisy and (len(old_samples) < 2 or len(new) < 2):
            side = sides.the_old if len(old_samples) < 2 else sides.the_new
            message = f"{name}: no round samples on {side}'s side; a spread-carrying figure is not compared by effect size alone. {sides.redo}"
            verdicts.append(Verdict("baseline", name, "unavailable", message))
            continue
        try:
            shift = stats.mann_whitney_shift(
                old_samples,
                new,
                higher_is_better=spec.better == "higher",
                min_effect=policy.min_effect,
                alpha=policy.alpha,
            )
        except ValueError as e:
            verdicts.append(
                Verdict("baseline", name, "unavailable", f"{name}: {sides.the_old}'s figure is unusable ({e})")
            )
            continue
        direction = "regressed" if shift.regressed else ("improved" if shift.improved else "within noise")
        moved_to: Direction = "regressed" if shift.regressed else ("improved" if shift.improved else "same")
        status: Status = "fail" if shift.regressed else "pass"
        runs = undecided = ""
        # Each run's figure is the median of its rounds, as the rounds' test reports it: one slow round
        # moves a mean of six by 5x (digits batch-32 latency, 0.31 ms mean around a 0.06 ms median).
        if shift.regressed or shift.improved:
            decision = between_runs(name, shift.baseline, shift.current, replicates, policy, spec.better == "higher")
            if decision.direction == "not compared":
                verdicts.append(Verdict("baseline", name, "unavailable", f"{name} {decision.reason}"))
                continue
            runs = f"; {decision.reason}"  # the outcome's words are the direction's, said once before the figure
            undecided = decision.reason if decision.direction == "unknown" else ""
            if decision.direction != moved_to:
                moved_to = decision.direction
                direction = {"unknown": "not decided", "same": "within the between-run noise"}.get(
                    decision.direction, decision.direction
                )
                status = "inconclusive" if decision.direction == "unknown" else "pass"
        busy = _outside_load(stored, current, policy, sides) if spec.unit != "B" else ""
        if moved_to in ("regressed", "improved") and busy:
            moved_to, undecided, status = "unknown", busy, "inconclusive"
            direction = f"not decided ({busy})"
        elif moved_to == "same" and abs(shift.change) > policy.min_effect and (shift.underpowered or busy):
            # A move past min_effect that the rounds cannot place (too few of them, or measured beside other
            # work) is not "within noise": nobody can tell from these rounds whether it is real.
            moved_to, status = "unknown", "inconclusive"
            undecided = busy or "too few rounds to test a move this size"
            direction = f"not decided ({undecided})"
        moved = (reference_moves or {}).get(name)
        if (
            shift.regressed
            and status != "pass"
            and moved is not None
            and _moved_as_much(shift.change, moved, policy.min_effect)
        ):
            direction = f"machine moved (reference moved {moved:+.1%} too)"
            status = "pass"
        message = (
            f"{name} {direction}: {shift.change:+.1%} (min effect {policy.min_effect:.0%}, {shift.reason}{runs}), "
            f"median {units.show(shift.current, spec.unit)} vs {sides.the_old} {units.show(shift.baseline, spec.unit)}"
        ) + loaded  # medians of the rounds (the rule's figure); the terminal table's figure is their mean
        verdicts.append(
            Verdict(
                "baseline",
                name,
                status,
                message,
                estimate=shift.change,
                threshold=policy.min_effect,
                n=len(new),
                rule=shift.reason,
                direction=moved_to,
                reason=undecided if moved_to == "unknown" else "",
            )
        )
    return verdicts


def _outside_load(stored: BaselineEntry, current: Measurement, policy: BaselineSettings, sides: Sides) -> str:
    """Why a time figure's move cannot be put down to the code: either side ran beside other work.

    Work the case did not cause takes cores from it (two threads on a 2-core VM lose half their time to
    one busy neighbour), so a speed or energy figure measured under more than `max_outside_load` moves
    with the neighbour, not the code; no spread over rounds or runs tells the two apart. Memory figures
    (bytes) do not move with it and are judged as usual. Empty when neither side was loaded (or unknown).
    """
    old = stored.recorded.get("outside_cpu_load")
    new = current.value("outside_cpu_load")
    named = [(sides.old, old), (sides.new, new)]
    loaded = [
        f"{who} {load:.0%}" for who, load in named if isinstance(load, (int, float)) and load > policy.max_outside_load
    ]
    if not loaded:
        return ""
    return (
        f"outside CPU load {', '.join(loaded)} over max_outside_load {policy.max_outside_load:.0%}: "
        "the machine's other work may have moved it; re-run on a quiet machine"
    )


def _recorded_under_load(stored: BaselineEntry, policy: BaselineSettings, sides: Sides) -> str:
    """A note for figures that move with the machine, when the old side was measured under outside load."""
    load = stored.recorded.get("outside_cpu_load")
    if not isinstance(load, (int, float)) or load <= policy.max_outside_load:
        return ""
    return (
        f"; {sides.the_old} was recorded under {load:.0%} outside CPU load (max_outside_load "
        f"{policy.max_outside_load:.0%}): {sides.redo_quiet}"
    )


def _standard_error(stdev: float | None, n: int) -> float:
    """A figure's own standard error from its spread over `n` items (stdev / sqrt(n - 1), llama-perplexity's ±);
    0.0 where no spread was measured (the effect size alone then decides)."""
    return stdev / math.sqrt(n - 1) if n > 1 and stdev is not None and stdev > 0 else 0.0


def _deterministic(
    name: str,
    old: StoredMetric,
    current: Measurement,
    higher_is_better: bool,
    unit: str,
    policy: BaselineSettings,
    sides: Sides,
) -> Verdict:
    """A figure a re-run reproduces (accuracy, KL, file size) against its stored value, by effect size.

    Not Mann-Whitney over rounds: it has one value per run, and its stdev (KL over tokens) is a spread over
    items that no re-record changes. The standard error used is the larger of the two sides'.
    """
    reading = current.readings[name]
    assert reading.value is not None
    se = max(_standard_error(old.stdev, old.n), _standard_error(reading.stdev, reading.n))
    try:
        shift = stats.effect_size_shift(
            old.value,
            reading.value,
            higher_is_better=higher_is_better,
            tolerance=policy.deterministic_tolerance,
            standard_error=se,
        )
    except ValueError as e:
        return Verdict("baseline", name, "unavailable", f"{name}: {sides.the_old}'s figure is unusable ({e})")
    direction = "regressed" if shift.regressed else ("improved" if shift.improved else "unchanged")
    message = (
        f"{name} {direction}: {shift.change:+.1%} ({shift.reason}), "
        f"{units.show(shift.current, unit)} vs {sides.the_old} {units.show(shift.baseline, unit)}"
    )
    return Verdict(
        "baseline",
        name,
        "fail" if shift.regressed else "pass",
        message,
        estimate=shift.change,
        threshold=policy.deterministic_tolerance,
        n=1,
        rule=shift.reason,
        direction="regressed" if shift.regressed else ("improved" if shift.improved else "same"),
    )


def _moved_as_much(change: float, reference_change: float, min_effect: float) -> bool:
    """The variant moved the same way as its reference, and relative to it by no more than `min_effect`.

    Relative, not a difference of percentages: a variant at -53% whose reference went -28% lost 35% against
    it, a regression of its own, even though the two percentages differ by only 25 points.
    """
    if change * reference_change <= 0 or reference_change <= -1:
        return False
    return abs((1 + change) / (1 + reference_change) - 1) <= min_effect


def _times_better(name: str, ratio: float) -> float:
    """A gate ratio on its gate's times-better scale (Gate.times_better), so `min_effect` means the same for all.

    A gate this version does not know (a name read back from another version's results) is taken as it is.
    """
    gate = find_gate(name)
    return ratio if gate is None else gate.times_better(ratio)


def judge_ratios(
    current: Sequence[Verdict],
    stored: BaselineEntry,
    policy: BaselineSettings,
    replicates: Replicates | None = None,
    sides: Sides = BASELINE_SIDES,
) -> list[Verdict]:
    """Gate ratios against the ratios stored with the baseline: a move past `min_effect` that the run's own
    interval confirms *and* that is past the between-run noise (`between_runs` on the gate's times-better
    scale, from the other runs' `gate:<name>` figures); "unknown" where that noise cannot be known and
    the move is under `run_factor`. One block of pairs per run is one replicate, however many pairs it holds.
    """
    verdicts = []
    for v in current:
        old = stored.ratios.get(v.name)
        if v.check != "gate" or old is None or v.estimate is None or v.high is None:
            continue
        floor = _times_better(v.name, old.estimate) * (1 - policy.min_effect)
        ceiling = _times_better(v.name, old.estimate) * (1 + policy.min_effect)
        regressed = _times_better(v.name, v.high) < floor
        improved = v.low is not None and _times_better(v.name, v.low) > ceiling
        direction: Direction = "regressed" if regressed else ("improved" if improved else "same")
        word = "regressed" if regressed else ("improved" if improved else "steady")
        runs = undecided = ""
        if regressed or improved:
            key = f"gate:{v.name}"
            scaled = Replicates(
                {key: [_times_better(v.name, x) for x in (replicates or Replicates()).before.get(key, ())]},
                {key: [_times_better(v.name, x) for x in (replicates or Replicates()).after.get(key, ())]},
            )
            old_tb, new_tb = _times_better(v.name, old.estimate), _times_better(v.name, v.estimate)
            decision = between_runs(key, old_tb, new_tb, scaled, policy, worse_if_lower=True)
            if decision.direction == "not compared":
                text = f"{v.name} ratio on its times-better scale {decision.reason}"
                verdicts.append(
                    Verdict("ratio", v.name, "unavailable", text, v.estimate, v.low, v.high, old.estimate, v.n)
                )
                continue
            runs = f"; {decision.reason}"  # the outcome's words are `word`'s, said once before the parenthesis
            undecided = decision.reason if decision.direction == "unknown" else ""
            if decision.direction != direction:
                direction = decision.direction
                word = {"unknown": "not decided", "same": "within the between-run noise"}.get(direction, direction)
        status: Status = "fail" if direction == "regressed" else ("inconclusive" if direction == "unknown" else "pass")
        text = (
            f"{v.name} ratio {v.estimate:.3g} [{v.low:.3g}, {v.high:.3g}] vs {sides.the_old} {old.estimate:.3g}: "
            f"{word} (min effect {policy.min_effect:.0%}{runs})"
        )
        verdicts.append(
            Verdict(
                "ratio",
                v.name,
                status,
                text,
                v.estimate,
                v.low,
                v.high,
                old.estimate,
                v.n,
                direction=direction,
                reason=undecided,
            )
        )
    return verdicts


def with_steal_note(verdicts: list[Verdict], note: str) -> list[Verdict]:
    """Every speed verdict of a run under heavy hypervisor steal says so (memory, accuracy and size do not move)."""
    if not note:
        return verdicts
    return [replace(v, message=f"{v.message}; {note}") if moves_with_speed(v) else v for v in verdicts]


def moves_with_speed(v: Verdict) -> bool:
    """Whether a verdict's figure moves with stolen or shared CPU time: a paired gate, or a timed reading."""
    if v.check in ("gate", "ratio"):
        return gate_named(v.name).paired
    spec = metric_spec(v.name)
    return spec is not None and spec.unit != "B" and not spec.deterministic
