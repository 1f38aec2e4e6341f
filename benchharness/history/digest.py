"""The nightly digest: a lab's series through the change-point rules, grouped into alarms, as lines or JSON.

What a person reads the morning after: one line per alarm (alarms.py: one per real change, however
many figures and machines it moved), the newest first, then how many went-away nights (transients,
not alarms; grouped the same way, listed in the JSON) and how many series were looked at. `--json` gives the same for CI.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from benchharness.history.alarms import WINDOW, Alarm, Move, alarms, night_of
from benchharness.history.changepoints import detect
from benchharness.history.recent import Recent
from benchharness.machine import machine_class


@dataclass(frozen=True)
class Digest:
    """Alarms and went-away nights since `since` (inclusive), and the counts behind them."""

    since: str | None  # None: the history is empty
    latest: str | None
    series: int
    too_short: int  # series with too few runs for a change point
    change_points: int  # series-level change points in the window, before grouping
    alarms: tuple[Alarm, ...]
    went_away: tuple[Alarm, ...]
    classes: dict[str, str]  # machine -> its class


def digest(recent: Recent, days: int = 7, window: int = WINDOW) -> Digest:
    """Detect on every series, keep what started within the last `days` nights of the newest run, and group it."""
    if days < 0:
        raise ValueError(f"days={days}: must not be negative; use 7 for a week")
    classes = {m: machine_class(info) for m, info in recent.fingerprints.items()}
    nights = [night_of(s.started[-1]) for s in recent.series if s.started]
    latest = max(nights, default=None)
    since = None if latest is None else (date.fromisoformat(latest) - timedelta(days=days)).isoformat()
    changes: list[Move] = []
    blips: list[Move] = []
    too_short = 0
    for s in recent.series:
        with warnings.catch_warnings():
            # scipy warns of lost precision on near-identical levels (an exact figure's float jitter); the 1%
            # magnitude rule already keeps such a split from being a change point, so the warning says nothing.
            warnings.simplefilter("ignore", RuntimeWarning)
            found = detect(s.values)
        too_short += found.unavailable_reason is not None and not found.points
        for cp in found.points:
            changes.append(
                Move(
                    s.machine,
                    classes[s.machine],
                    s.case_key,
                    s.figure,
                    night_of(s.started[cp.index]),
                    cp.change,
                    cp.p_value,
                )
            )
        for t in found.transients:
            blips.append(
                Move(s.machine, classes[s.machine], s.case_key, s.figure, night_of(s.started[t.start]), t.change, None)
            )
    changes = [m for m in changes if since is not None and m.night >= since]
    blips = [m for m in blips if since is not None and m.night >= since]
    return Digest(
        since,
        latest,
        len(recent.series),
        too_short,
        len(changes),
        tuple(alarms(changes, window)),
        tuple(alarms(blips, window)),
        classes,
    )


def _pct(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:+.1%}"


def _nights(a: Alarm) -> str:
    first, last = a.nights
    return first if first == last else f"{first}..{last}"


def _figures(a: Alarm) -> str:
    return ", ".join(f"{f} {_pct(a.change_of(f))}" for f in a.figures)


def _machines(a: Alarm) -> str:
    return f"{', '.join(a.machines)} ({a.machine_class})"


def lines(d: Digest) -> list[str]:
    """One line per alarm, the went-away nights after them, and a closing count."""
    if d.latest is None:
        return ["no runs in the history: nothing to digest"]
    out = [f"alarms since {d.since} (newest run {d.latest}): {len(d.alarms)}"]
    for a in d.alarms:
        p = "" if a.p_value is None else f"  p={a.p_value:.2g}"
        out.append(f"{_nights(a)}  {a.direction} {_pct(a.size)}  {a.case_key}  [{_figures(a)}]  on {_machines(a)}{p}")
    if d.went_away:
        out.append(
            f"went away (a night or two off the level, then back; not alarms): {len(d.went_away)}; --json lists them"
        )
    out.append(
        f"{d.series} series on {len(d.classes)} machine(s) of {len(set(d.classes.values()))} class(es): "
        f"{d.change_points} change point(s) since {d.since} -> {len(d.alarms)} alarm(s); "
        f"{d.too_short} series too short for a change point"
    )
    return out


def _number(x: float | None) -> float | None:
    """JSON has no infinity: a move from a level of 0 has no relative size."""
    return None if x is None or not math.isfinite(x) else x


def _alarm_json(a: Alarm) -> dict[str, Any]:
    return {
        "case": a.case_key,
        "machine_class": a.machine_class,
        "machines": list(a.machines),
        "first_night": a.nights[0],
        "last_night": a.nights[1],
        "direction": a.direction,
        "size": _number(a.size),
        "p_value": a.p_value,
        "figures": {f: _number(a.change_of(f)) for f in a.figures},
        "moves": [
            {
                "machine": m.machine,
                "figure": m.figure,
                "night": m.night,
                "change": _number(m.change),
                "p_value": m.p_value,
            }
            for m in a.moves
        ],
    }


def as_json(d: Digest) -> dict[str, Any]:
    """The digest as one JSON document (schema_version 1), for CI to read or to fail on."""
    return {
        "schema_version": 1,
        "since": d.since,
        "latest": d.latest,
        "series": d.series,
        "series_too_short": d.too_short,
        "change_points": d.change_points,
        "machine_classes": d.classes,
        "alarms": [_alarm_json(a) for a in d.alarms],
        "went_away": [_alarm_json(a) for a in d.went_away],
    }
