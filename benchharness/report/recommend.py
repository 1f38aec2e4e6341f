"""Which configuration to ship: the Pareto front of speed vs accuracy, and one recommendation per model and device.

Pure functions over typed results. A variant is recommended only if every gate its suite declares
was judged and passed in this run (a known breach, an inconclusive or an unavailable gate does not
qualify); among those, the fastest by the model kind's own speed metric, and the smallest by file size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchharness import kinds, units
from benchharness.gates import ACCURACY_RETAINED, SPEEDUP, find_gate
from benchharness.readings import metric_spec
from benchharness.results import CaseResult, RunResult
from benchharness.tasks.answers import METRIC as ANSWERS_METRIC


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For points (x, y) where higher is better on both axes: True where no other point is at least as
    good on both and strictly better on one."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any((ox >= x and oy >= y) and (ox > x or oy > y) for j, (ox, oy) in enumerate(points) if j != i)
        front.append(not dominated)
    return front


@dataclass(frozen=True)
class Candidate:
    """One measured variant of a model on a device, with the figures the choice is made on."""

    case: CaseResult
    speed: float
    accuracy: float | None
    size_bytes: float | None

    @property
    def name(self) -> str:
        return f"{self.case.case.variant} on {self.case.case.backend}"


@dataclass(frozen=True)
class Recommendation:
    machine: str
    model: str
    device: str
    fastest: Candidate | None
    smallest: Candidate | None
    considered: int
    speed_metric: str
    sentence: str


def speed_metric(case: CaseResult) -> str:
    return SPEEDUP.figure(kinds.kind(case.case.kind))


def accuracy_metric(case: CaseResult) -> str:
    """The accuracy the gate judges: the team's exact-match answers where prompts were declared, else the kind's."""
    if case.value(ANSWERS_METRIC) is not None:
        return ANSWERS_METRIC
    return ACCURACY_RETAINED.figure(kinds.kind(case.case.kind))


def candidates(cases: Sequence[CaseResult]) -> list[Candidate]:
    """Every case with a measured speed (reference variants included: they are the accuracy yardstick)."""
    found = []
    for c in cases:
        if c.measurement is None:
            continue
        speed = c.value(speed_metric(c))
        if speed is None:
            continue
        found.append(Candidate(c, speed, c.value(accuracy_metric(c)), c.value("weights_file_bytes")))
    return found


def _gates(case: CaseResult) -> str:
    shown = []
    for v in case.gate_verdicts():
        if v.estimate is None:
            continue
        gate = find_gate(v.name)
        shown.append(f"{v.name.replace('_', ' ')} {gate.show(v.estimate) if gate else format(v.estimate, '.3g')}")
    return ", ".join(shown)


def _speed_text(c: Candidate) -> str:
    metric = speed_metric(c.case)
    spec = metric_spec(metric)
    return f"{units.show(c.speed, spec.unit if spec else '')} {spec.label if spec else metric}"


def not_judged(cases: Sequence[CaseResult]) -> str:
    """What could not be judged and why, per backend: "llamacpp: 4 variant(s) crashed on this machine (q8_0, ...)"."""
    by_backend: dict[str, list[CaseResult]] = {}
    for c in cases:
        if c.outcome in ("failed", "error") and c.measurement is None:
            by_backend.setdefault(c.case.backend, []).append(c)
    parts = []
    for backend, failed in by_backend.items():
        crashed = all("died from " in (c.message or "") for c in failed)
        variants = ", ".join(c.case.variant for c in failed)
        parts.append(
            f"{backend}: {len(failed)} variant(s) {'crashed' if crashed else 'failed'} on this machine ({variants})"
        )
    return "; ".join(parts)


def fastest_passing(found: Sequence[Candidate]) -> Candidate | None:
    """The recommended configuration among one (model, device)'s candidates: the fastest that passes every gate."""
    passing = [c for c in found if c.case.passes_every_gate()]
    return max(passing, key=lambda c: c.speed) if passing else None


def recommend(run: RunResult) -> list[Recommendation]:
    """One recommendation per (model, device) measured in `run`, in the order the cases ran.

    Variants that crashed or errored are named as not judged, so a missing backend is never mistaken
    for one that was not installed.
    """
    groups: dict[tuple[str, str], list[CaseResult]] = {}
    for c in run.cases:
        groups.setdefault((c.case.model, c.case.device), []).append(c)
    recommendations = []
    for (model, device), cases in groups.items():
        found = candidates(cases)
        unjudged = not_judged(cases)
        unjudged_note = f" Not judged: {unjudged} (see Failed)." if unjudged else ""
        if not found:
            if unjudged:
                sentence = f"{model} on {device} ({run.machine_id}): nothing measured to recommend.{unjudged_note}"
                metric = speed_metric(cases[0])
                recommendations.append(Recommendation(run.machine_id, model, device, None, None, 0, metric, sentence))
            continue
        passing = [c for c in found if c.case.passes_every_gate()]
        metric = speed_metric(found[0].case)
        where = f"{model} on {device} ({run.machine_id})"
        if not passing:
            references = [c for c in found if c.case.case.is_reference]
            fallback = max(references, key=lambda c: c.speed) if references else None
            tail = f"; ship the reference {fallback.name} ({_speed_text(fallback)}) or relax a gate" if fallback else ""
            sentence = f"{where}: no optimized variant passes every gate among {len(found)} measured{tail}."
            sentence += unjudged_note
            recommendations.append(
                Recommendation(run.machine_id, model, device, None, None, len(found), metric, sentence)
            )
            continue
        fastest = fastest_passing(found)
        assert fastest is not None
        sized = [c for c in passing if c.size_bytes is not None]
        smallest = min(sized, key=lambda c: c.size_bytes or 0.0) if sized else None
        sentence = (
            f"{where}: ship {fastest.name}, {_speed_text(fastest)}, the fastest of {len(passing)} variant(s) that pass "
            f"every gate ({_gates(fastest.case)})"
        )
        if smallest is not None and smallest is not fastest:
            sentence += f"; the smallest that passes is {smallest.name} ({units.show(smallest.size_bytes, 'B')} file, {_speed_text(smallest)})"
        elif smallest is not None:
            sentence += f"; it is also the smallest that passes ({units.show(smallest.size_bytes, 'B')} file)"
        recommendations.append(
            Recommendation(
                run.machine_id, model, device, fastest, smallest, len(found), metric, sentence + "." + unjudged_note
            )
        )
    return recommendations
