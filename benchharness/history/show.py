"""`benchharness history show`: one figure's series as lines, each value with its unit and the marks the
change-point rules put on it.

Its own module so cli.py only parses and prints. A series point is a run (a machine may run several times a
night, or skip nights), so the lines count runs; the digest (history/digest.py) is the one that counts nights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from benchharness import units
from benchharness.gates import find_gate
from benchharness.history.changepoints import Detection
from benchharness.history.store import Point
from benchharness.readings import metric_spec

BYTES = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def _digits(value: float) -> str:
    """6 significant digits without trailing zeros or an exponent: a series' small moves stay visible."""
    text = units.significant(value, 6)
    return text.rstrip("0").rstrip(".") if "." in text else text


def value_format(metric: str, values: Sequence[float]) -> tuple[Callable[[float], str], str]:
    """How the values of `metric` are printed, and what they are ('decode throughput, tok/s'), from its MetricSpec
    or, for 'gate:NAME', its gate; an unknown name prints its bare number rather than guess a unit.

    One unit for the whole series (bytes in the largest unit its smallest value fills), so the lines compare
    by eye, and 6 significant digits, as before units were shown.
    """
    scale, unit = 1.0, ""
    if metric.startswith("gate:") and (gate := find_gate(metric.removeprefix("gate:"))) is not None:
        scale, unit = (1.0, "x") if gate.unit == "x" else (100.0, "%")
        what = f"gate {gate.name}, {'a ratio of speeds' if gate.unit == 'x' else 'a share'}"
    elif (spec := metric_spec(metric)) is None:
        what = "no unit known for this name"
    elif spec.unit == "fraction":
        scale, unit, what = 100.0, "%", f"{spec.label}, %"
    elif spec.unit == "B":
        smallest = min((abs(v) for v in values if v), default=0.0)
        name, size = next(((n, s) for n, s in BYTES if smallest >= s), ("B", 1))
        scale, unit, what = 1 / size, f" {name}", f"{spec.label}, {name}"
    else:
        unit, what = f" {spec.unit}", f"{spec.label}, {spec.unit}"

    def shown(value: float) -> str:
        return f"{_digits(value * scale)}{unit}"

    return shown, what


def series_lines(machine: str, case: str, metric: str, points: Sequence[Point], found: Detection) -> list[str]:
    """A heading, then one line per run (oldest first): its start, the value with its unit, its commit, and a
    mark where a change point starts or a transient left the level; then why no change point could be looked for."""
    show, what = value_format(metric, [p.value for p in points])
    shown = [show(p.value) for p in points]
    width = max(len(s) for s in shown)
    starts = {cp.index: cp for cp in found.points}
    away = {i: t for t in found.transients for i in range(t.start, t.end)}
    lines = [f"{metric} ({what}) of {case} on {machine}: {len(points)} run(s), oldest first"]
    for i, (p, value) in enumerate(zip(points, shown, strict=True)):
        mark = ""
        if i in starts:
            cp = starts[i]
            noise = "no noise" if cp.noise_multiple == float("inf") else f"{cp.noise_multiple:.1f}x the noise"
            mark = f"  <- change point ({cp.change:+.1%}, {noise}, p={cp.p_value:.2g})"
        elif i in away:
            t = away[i]
            mark = f"  <- transient ({t.change:+.1%}, back to the level after {t.end - t.start} run(s))"
        lines.append(f"{p.started}  {value:>{width}}  {(p.git_commit or '')[:10]}{mark}".rstrip())
    if found.unavailable_reason:
        lines.append(f"change points: {found.unavailable_reason}")
    return lines
