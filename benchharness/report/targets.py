"""What to ship on a deployment target: the team's limits judged with their noise, then its order of preference.

Pure functions over typed results and a `config.Target`. The candidates are recommend.candidates' (every
measured variant, references included); a target judges only its own limits, not the suite's gates.

The noise rule, one for every limit: each figure is an interval, and a limit is

- **met** when the whole interval is on the allowed side,
- **not met** when the whole interval is past it (the candidate is ruled out, by estimate minus limit),
- **not shown** when the interval straddles the limit, or the figure is missing: the run cannot tell.

Only a candidate that meets every limit qualifies. A reading's interval is its mean ± 1.96 standard errors
(stdev/√n over this run's rounds: it describes this run, not the spread between runs); a figure with one
sample or no spread (file size, peak RSS, accuracy over a fixed data set) is exact. Accuracy retained is the
accuracy_retained gate verdict's own interval (paired over items); the reference retains exactly 1.

Preferences decide only past the noise: among the qualifying candidates, the first preference keeps every
candidate whose interval overlaps the best one's, the next preference decides among those, and so on; the
last remaining tie goes to the first preference's estimate. The runner-up is the same rule without the pick.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from benchharness import units
from benchharness.gates import ACCURACY_RETAINED
from benchharness.readings import metric_spec
from benchharness.report.recommend import Candidate, accuracy_metric, candidates, fastest_passing, speed_metric
from benchharness.results import CaseResult, RunResult
from benchharness.settings import Target

Z95 = NormalDist().inv_cdf(0.975)
ENERGY_METRICS = ("energy_per_token_j", "energy_per_item_j")

Status = Literal["met", "not met", "not shown"]


@dataclass(frozen=True)
class Figure:
    """A figure with its interval (low == high == estimate when it is exact); None when not measured."""

    estimate: float
    low: float
    high: float

    @classmethod
    def exact(cls, value: float) -> Figure:
        return cls(value, value, value)

    def overlaps(self, other: Figure) -> bool:
        return self.low <= other.high and other.low <= self.high


def reading_figure(case: CaseResult, metric: str) -> tuple[Figure | None, str]:
    """A reading as mean ± 1.96 stdev/√n, or None with the reason it is missing."""
    reading = None if case.measurement is None else case.measurement.readings.get(metric)
    if reading is None:
        return None, f"{metric} was not measured for this case"
    if reading.value is None:
        return None, f"{metric} is unavailable: {reading.unavailable_reason}"
    stdev = reading.stdev or 0.0  # no spread measured: the figure alone, no interval around it
    half = Z95 * stdev / math.sqrt(reading.n) if reading.n > 1 and stdev > 0 else 0.0
    return Figure(reading.value, reading.value - half, reading.value + half), ""


def retained_figure(case: CaseResult) -> tuple[Figure | None, str]:
    """The accuracy_retained gate's estimate and interval; exactly 1 for the reference itself."""
    if case.case.is_reference:
        return Figure.exact(1.0), ""
    verdict = case.verdict("gate", ACCURACY_RETAINED.name)
    if verdict is None or verdict.estimate is None:
        why = verdict.message if verdict is not None else f"the suite does not gate {ACCURACY_RETAINED.name}"
        return None, f"accuracy retained was not judged ({why})"
    low = verdict.estimate if verdict.low is None else verdict.low
    high = verdict.estimate if verdict.high is None else verdict.high
    return Figure(verdict.estimate, low, high), ""


def figure_text(figure: Figure, unit: str) -> str:
    """'110.1 tok/s [109.8, 110.4]': the interval's bounds lose the unit when they share the estimate's."""
    shown = units.show(figure.estimate, unit)
    if figure.low == figure.high:
        return shown
    suffix = shown.split(" ", 1)[1] if " " in shown else ""
    bounds = [units.show(b, unit) for b in (figure.low, figure.high)]
    if suffix and all(b.endswith(" " + suffix) for b in bounds):
        bounds = [b.removesuffix(" " + suffix) for b in bounds]
    return f"{shown} [{bounds[0]}, {bounds[1]}]"


@dataclass(frozen=True)
class Limit:
    """One of a target's limits: its config key, what it reads and which side is allowed."""

    key: str
    label: str
    upper: bool  # True: the figure must stay at or below the limit
    unit: Callable[[CaseResult], str]
    figure: Callable[[CaseResult], tuple[Figure | None, str]]


def _speed_unit(case: CaseResult) -> str:
    spec = metric_spec(speed_metric(case))
    return spec.unit if spec else ""


LIMITS = (
    Limit("max_model_bytes", "model file", True, lambda c: "B", lambda c: reading_figure(c, "weights_file_bytes")),
    Limit("max_memory_bytes", "peak memory", True, lambda c: "B", lambda c: reading_figure(c, "peak_rss_bytes")),
    Limit("min_speed", "speed", False, _speed_unit, lambda c: reading_figure(c, speed_metric(c))),
    Limit("max_ttft_ms", "TTFT", True, lambda c: "ms", lambda c: reading_figure(c, "ttft_ms")),
    Limit("min_accuracy_retained", "accuracy retained", False, lambda c: "fraction", retained_figure),
    Limit("min_accuracy", "accuracy", False, lambda c: "fraction", lambda c: reading_figure(c, accuracy_metric(c))),
)


@dataclass(frozen=True)
class Evidence:
    """How one candidate stands against one limit."""

    key: str
    label: str
    limit: float
    upper: bool
    unit: str
    figure: Figure | None
    status: Status
    reason: str = ""  # why the figure is missing

    @property
    def margin(self) -> float:
        """How far past the limit the estimate is (positive: on the wrong side)."""
        if self.figure is None:
            return math.nan
        return self.figure.estimate - self.limit if self.upper else self.limit - self.figure.estimate

    def shown(self) -> str:
        if self.figure is None:
            return self.reason
        return figure_text(self.figure, self.unit)

    def margin_text(self) -> str:
        """'10.0 MiB over', '4.896 tok/s short', '11.00 points short' (a fraction's margin is in percentage points)."""
        size = f"{self.margin * 100:.2f} points" if self.unit == "fraction" else units.show(self.margin, self.unit)
        return f"{size} {'over' if self.upper else 'short'}"

    def text(self) -> str:
        """'model file 90.0 MiB <= 100.0 MiB: met'; 'speed 48 tok/s [46, 50] >= 50 tok/s: not met (2.0 tok/s short)'."""
        sign = "<=" if self.upper else ">="
        if self.figure is None:
            return f"{self.label} {sign} {units.show(self.limit, self.unit)}: not shown ({self.reason})"
        line = f"{self.label} {self.shown()} {sign} {units.show(self.limit, self.unit)}: {self.status}"
        if self.status == "not met":
            line += f" ({self.margin_text()})"
        elif self.status == "not shown" and self.figure is not None:
            line += " (inside the noise)"
        return line


def judge(limit: Limit, value: float, case: CaseResult) -> Evidence:
    figure, reason = limit.figure(case)
    status: Status
    if figure is None:
        status = "not shown"
    elif (figure.high <= value) if limit.upper else (figure.low >= value):
        status = "met"
    elif (figure.low > value) if limit.upper else (figure.high < value):
        status = "not met"
    else:
        status = "not shown"
    return Evidence(limit.key, limit.label, value, limit.upper, limit.unit(case), figure, status, reason)


@dataclass(frozen=True)
class Judged:
    """A candidate with its evidence against every limit the target sets; `excluded` when its backend is not allowed."""

    candidate: Candidate
    evidence: tuple[Evidence, ...]
    excluded: str = ""

    @property
    def qualifies(self) -> bool:
        return not self.excluded and all(e.status == "met" for e in self.evidence)

    @property
    def name(self) -> str:
        return self.candidate.name


def judge_candidate(target: Target, candidate: Candidate) -> Judged:
    excluded = ""
    if target.backends is not None and candidate.case.case.backend not in target.backends:
        excluded = (
            f"backend {candidate.case.case.backend} is not among the target's backends ({', '.join(target.backends)})"
        )
    evidence = tuple(
        judge(limit, value, candidate.case) for limit in LIMITS if (value := getattr(target, limit.key)) is not None
    )
    return Judged(candidate, evidence, excluded)


def preference_figure(wish: str, candidate: Candidate) -> tuple[Figure | None, bool]:
    """The figure a preference ranks by, and whether higher is better."""
    case = candidate.case
    if wish == "speed":
        return reading_figure(case, speed_metric(case))[0], True
    if wish == "size":
        return reading_figure(case, "weights_file_bytes")[0], False
    if wish == "accuracy":
        return reading_figure(case, accuracy_metric(case))[0], True
    for metric in ENERGY_METRICS:
        figure = reading_figure(case, metric)[0]
        if figure is not None:
            return figure, False
    return None, False


PREFERENCE_UNITS = {"size": "B", "accuracy": "fraction", "energy": "J"}


def preference_text(target: Target, judged: Judged) -> str:
    """The figures a target's preferences rank by, for one candidate: '120.0 tok/s, 140.0 MiB, 49.00%'."""
    shown = []
    for wish in target.prefer:
        figure, _ = preference_figure(wish, judged.candidate)
        if figure is not None:
            unit = _speed_unit(judged.candidate.case) if wish == "speed" else PREFERENCE_UNITS[wish]
            shown.append(f"{wish} {figure_text(figure, unit)}")
    return ", ".join(shown) or "no figure its preferences rank by"


def _best(pool: Sequence[Judged], prefer: Sequence[str]) -> Judged:
    """The preferred candidate of `pool` (non-empty): each preference narrows to those within the best's noise."""
    remaining = list(pool)
    for wish in prefer:
        figures = [(j, preference_figure(wish, j.candidate)) for j in remaining]
        known = [(j, f, higher) for j, (f, higher) in figures if f is not None]
        if not known:
            continue  # nobody has this figure: it cannot decide
        _, best_f, _ = max(known, key=lambda t: t[1].estimate if t[2] else -t[1].estimate)
        remaining = [j for j, f, _ in known if f.overlaps(best_f)]
        if len(remaining) == 1:
            return remaining[0]
    first = prefer[0] if prefer else "speed"

    def key(j: Judged) -> float:
        figure, higher = preference_figure(first, j.candidate)
        return -math.inf if figure is None else (figure.estimate if higher else -figure.estimate)

    return max(remaining, key=key)


@dataclass(frozen=True)
class TargetPick:
    """One target's answer for one (machine, model, device): the pick, the runner-up, and every candidate's evidence."""

    target: Target
    machine: str
    model: str
    device: str
    pick: Judged | None
    runner_up: Judged | None
    judged: tuple[Judged, ...]
    recommended: Judged | None = None  # the report's recommended configuration (recommend.fastest_passing), judged here

    def against_recommended(self) -> str | None:
        """Why this target ships something other than the report's recommended configuration, or None where it agrees.

        The recommendation is the fastest variant that passes every gate; a target adds its own limits and
        order of preference, so the two may differ, and a reader who sees both must be told why.
        """
        r = self.recommended
        if self.pick is None or r is None or r.name == self.pick.name:
            return None
        head = f"not the recommended {r.name} (the fastest that passes every gate)"
        if r.excluded:
            return f"{head}: {r.excluded}"
        failing = [e for e in r.evidence if e.status != "met"]
        if failing:
            return f"{head}: {'; '.join(e.text() for e in failing)}"
        return (
            f"{head}: both meet every limit, and this target prefers {' then '.join(self.target.prefer)} "
            f"({self.pick.name}: {preference_text(self.target, self.pick)}; {r.name}: {preference_text(self.target, r)})"
        )

    @property
    def where(self) -> str:
        return f"{self.model} on {self.device} ({self.machine})"

    def lines(self) -> list[str]:
        """The answer as the terminal and `benchharness recommend` print it (the report shows the same lines)."""
        head = f"target {self.target.name}: {self.where}"
        if self.pick is not None:
            lines = [f"{head}: ship {self.pick.name} ({preference_text(self.target, self.pick)})"]
            lines += [f"  {e.text()}" for e in self.pick.evidence] or ["  (the target sets no limit)"]
            if (why := self.against_recommended()) is not None:
                lines.append(f"  {why}")
            if self.runner_up is not None:
                lines.append(f"  runner-up: {self.runner_up.name} ({preference_text(self.target, self.runner_up)})")
            else:
                lines.append("  runner-up: none (no other candidate meets every limit)")
            return lines
        lines = [f"{head}: nothing qualifies among {len(self.judged)} candidate(s)"]
        excluded = [j for j in self.judged if j.excluded]
        if excluded and self.target.backends is not None:
            lines.append(
                f"  ruled out as not among the target's backends ({', '.join(self.target.backends)}): "
                + ", ".join(j.name for j in excluded)
            )
        for limit in LIMITS:
            value = getattr(self.target, limit.key)
            if value is None:
                continue
            out = [(j, e) for j in self.judged for e in j.evidence if e.key == limit.key and e.status == "not met"]
            unsure = [(j, e) for j in self.judged for e in j.evidence if e.key == limit.key and e.status == "not shown"]
            if not out and not unsure:
                continue
            unit = (out or unsure)[0][1].unit
            sign = "<=" if limit.upper else ">="
            parts = [f"{j.name} ({e.shown()}, {e.margin_text()})" for j, e in sorted(out, key=lambda t: t[1].margin)]
            line = f"  {limit.key} {sign} {units.show(value, unit)}"
            if parts:
                line += f" ruled out {', '.join(parts)}"
            if unsure:
                line += (
                    ("; " if parts else " ")
                    + "not shown for "
                    + ", ".join(
                        f"{j.name} ({e.shown()}{', inside the noise' if e.figure is not None else ''})"
                        for j, e in unsure
                    )
                )
            lines.append(line)
        return lines


def pick(target: Target, run: RunResult) -> list[TargetPick]:
    """One answer per (model, device) of `run` whose device the target allows, in the order the cases ran."""
    groups: dict[tuple[str, str], list[CaseResult]] = {}
    for c in run.cases:
        if target.devices is None or c.case.device in target.devices:
            groups.setdefault((c.case.model, c.case.device), []).append(c)
    answers = []
    for (model, device), cases in groups.items():
        judged = tuple(judge_candidate(target, c) for c in candidates(cases))
        if not judged:
            continue
        qualifying = [j for j in judged if j.qualifies]
        chosen = _best(qualifying, target.prefer) if qualifying else None
        rest = [j for j in qualifying if j is not chosen]
        runner_up = _best(rest, target.prefer) if rest else None
        best = fastest_passing(candidates(cases))
        recommended = next((j for j in judged if best is not None and j.candidate.case.key == best.case.key), None)
        answers.append(TargetPick(target, run.machine_id, model, device, chosen, runner_up, judged, recommended))
    return answers


def target_lines(runs: Sequence[RunResult], targets: Sequence[Target]) -> list[str]:
    """Every target's answer for every run (a lab report: one run per machine), as printed lines."""
    lines = []
    for target in targets:
        for run in runs:
            answers = pick(target, run)
            if not answers:
                where = f" on {', '.join(target.devices)}" if target.devices else ""
                lines.append(f"target {target.name}: {run.machine_id}: nothing measured{where} to choose from")
            for answer in answers:
                lines += answer.lines()
    return lines
