"""The report's first screen: one accuracy-vs-speed chart per model and device, across every backend and variant.

Each suite used to draw its own front, so two runtimes measured by two suites never met on one chart, and
the team's question ("which configuration do we ship here?") had no single picture. This module decides
what that picture holds (pure, no drawing): the points, which of them are on the Pareto front, and where
each deployment target's pick and runner-up lie. `figures.front_figure` draws it.

It reuses, never re-derives: the points are `recommend.candidates` (the speed the kind's speedup gate
reads, the accuracy the accuracy gate judges: `recommend.accuracy_metric`), the front is
`recommend.pareto_front`, and the picks are `targets.pick`'s answers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from benchharness.report.recommend import Candidate, accuracy_metric, candidates, pareto_front, speed_metric
from benchharness.report.targets import TargetPick
from benchharness.results import CaseResult, RunResult


@dataclass(frozen=True)
class FrontPoint:
    """One measured variant on the chart: 'onnxruntime int8' at (speed, accuracy)."""

    key: str  # the case's key (suite::id): what a target's pick is matched on
    label: str  # backend + variant (+ suite where two suites measured the same pair)
    backend: str
    speed: float
    accuracy: float
    on_front: bool


@dataclass(frozen=True)
class FrontMark:
    """A deployment target's pick or runner-up, as the chart marks it."""

    target: str
    role: str  # "pick" or "runner-up"
    point: str  # the marked point's label
    on_chart: bool  # False when the candidate has no accuracy on the chart's axis (named in left_off)

    @property
    def text(self) -> str:
        return f"{self.target} {self.role}"


@dataclass(frozen=True)
class FrontChart:
    """Everything the first screen shows for one model on one device of one machine."""

    machine: str
    model: str
    device: str
    speed_metric: str
    accuracy_metric: str
    points: tuple[FrontPoint, ...]
    marks: tuple[FrontMark, ...]
    left_off: tuple[str, ...]  # 'label: why', for each variant the chart cannot place (failed ones included)

    @property
    def title(self) -> str:
        return f"{self.model} on {self.device} ({self.machine})"


def _labels(found: Sequence[Candidate]) -> dict[str, str]:
    """'backend variant' per case key; the suite is added only where two suites measured the same pair."""
    plain = {c.case.key: f"{c.case.case.backend} {c.case.case.variant}" for c in found}
    counts = Counter(plain.values())
    return {k: (f"{v} ({k.split('::', 1)[0]})" if counts[v] > 1 else v) for k, v in plain.items()}


def _axis(found: Sequence[Candidate]) -> str:
    """The accuracy the gate judges, as most candidates read it (a suite that declared the team's prompts
    judges exact-match answers, another the kind's task: one axis cannot hold both)."""
    return Counter(accuracy_metric(c.case) for c in found).most_common(1)[0][0]


def front_chart(
    machine: str, model: str, device: str, cases: Sequence[CaseResult], picks: Sequence[TargetPick] = ()
) -> FrontChart | None:
    """The chart for one (model, device) of `machine`: None when no case there measured its speed."""
    found = candidates(cases)
    if not found:
        return None
    axis = _axis(found)
    labels = _labels(found)
    left_off: list[str] = []
    placed: list[Candidate] = []
    for c in found:
        metric = accuracy_metric(c.case)
        if metric != axis:
            left_off.append(f"{labels[c.case.key]}: its gate judges {metric}, not {axis}")
        elif c.accuracy is None:
            left_off.append(f"{labels[c.case.key]}: no {axis} reading")
        else:
            placed.append(c)
    measured = {c.case.key for c in found}
    for row in cases:  # what the chart lacks and why: a crashed runtime must not read as one never installed
        name = f"{row.case.backend} {row.case.variant}"
        if row.measurement is None and row.outcome in ("failed", "error"):
            left_off.append(f"{name}: {row.outcome} (see Failed)")
        elif row.measurement is not None and row.key not in measured:
            left_off.append(f"{name}: no {speed_metric(row)} reading")
    front = pareto_front([(c.speed, c.accuracy or 0.0) for c in placed])
    points = tuple(
        FrontPoint(c.case.key, labels[c.case.key], c.case.case.backend, c.speed, c.accuracy or 0.0, on)
        for c, on in zip(placed, front, strict=True)
    )
    on_chart = {p.key for p in points}
    marks = []
    for answer in picks:
        if (answer.machine, answer.model, answer.device) != (machine, model, device):
            continue
        for role, judged in (("pick", answer.pick), ("runner-up", answer.runner_up)):
            if judged is not None:
                key = judged.candidate.case.key
                marks.append(FrontMark(answer.target.name, role, labels[key], key in on_chart))
    return FrontChart(machine, model, device, speed_metric(found[0].case), axis, points, tuple(marks), tuple(left_off))


def front_charts(run: RunResult, picks: Sequence[TargetPick] = ()) -> list[FrontChart]:
    """One chart per (model, device) of `run`, across its suites, in the order the cases ran."""
    groups: dict[tuple[str, str], list[CaseResult]] = {}
    for c in run.cases:
        groups.setdefault((c.case.model, c.case.device), []).append(c)
    charts = [front_chart(run.machine_id, model, device, cases, picks) for (model, device), cases in groups.items()]
    return [c for c in charts if c is not None]
