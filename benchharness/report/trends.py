"""A run's trend series and the change points in them, read from the history store with no figure drawn.

The report draws a trend figure per figure name and marks its change points; the lab report's first page
lists the same change points for every machine. Drawing is where a lab's merge spent its minutes
(matplotlib, ~1.3 s a machine page), so the first page must not need the figures to learn the change
points: both read them here, one `HistoryStore.series_table` call per machine, and word them alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchharness import kinds
from benchharness.history.changepoints import Detection, detect
from benchharness.history.store import HistoryStore, Point
from benchharness.results import CaseResult, RunResult

TREND_RUNS = 30  # the last runs of the machine a trend shows and its change points are looked for in
FAILED = ("failed", "error")


@dataclass(frozen=True)
class Trend:
    """One figure of one case over the machine's last runs, with what change-point detection found in it."""

    name: str  # the figure, e.g. decode_tok_per_s or gate:speedup
    label: str  # "variant backend": the case's line in the trend figure
    points: tuple[Point, ...]
    detection: Detection

    def change_lines(self) -> list[str]:
        """Each change point in words, as the report and the lab's first page both print it."""
        return [
            f"{self.name} of {self.label}: level changed at the run of {self.points[cp.index].started} "
            f"({cp.mean_before:.4g} -> {cp.mean_after:.4g}, {cp.change:+.1%}, p={cp.p_value:.2g})"
            for cp in self.detection.points
        ]


def shown(cases: Sequence[CaseResult]) -> list[CaseResult]:
    """The cases a suite's tables show (measured, or failed with a cause): the ones whose trends are drawn."""
    return [c for c in cases if c.measurement is not None or c.outcome in FAILED]


def trend_names(kind: str) -> list[str]:
    """The figures a kind's trends follow: its gate metrics and its gates' ratios (`gate:<name>` in the store)."""
    metrics = kinds.kind(kind).gate_metrics
    return list(dict.fromkeys([*metrics.values(), *(f"gate:{g}" for g in metrics)]))


def trended_suites(run: RunResult) -> list[tuple[str, str, list[CaseResult]]]:
    """(suite, kind, shown cases) of each suite of `run` that measured something, in the order the report shows them."""
    suites: dict[str, list[CaseResult]] = {}
    for c in run.cases:
        suites.setdefault(c.case.suite, []).append(c)
    out = []
    for name, cases in suites.items():
        measured = [c for c in cases if c.measurement is not None]
        if measured:
            out.append((name, measured[0].case.kind, shown(cases)))
    return out


def trends(kind: str, cases: Sequence[CaseResult], table: dict[tuple[str, str], list[Point]]) -> list[Trend]:
    """Every series of `cases` with two or more stored points, figure by figure, each with its change points."""
    out = []
    for name in trend_names(kind):
        for c in cases:
            points = table.get((c.key, name), [])
            if len(points) >= 2:
                found = detect([p.value for p in points])
                out.append(Trend(name, f"{c.case.variant} {c.case.backend}", tuple(points), found))
    return out


def machine_change_points(run: RunResult, history: HistoryStore) -> list[str]:
    """Every change point in the trends of `run`'s report, "suite: line", from one read of the store.

    What the lab's first page lists for a machine whose page is its own report (not drawn here).
    """
    suites = trended_suites(run)
    keys = [c.key for _, _, cases in suites for c in cases]
    names = list(dict.fromkeys(n for _, kind, _ in suites for n in trend_names(kind)))
    if not keys:
        return []
    table = history.series_table(run.machine_id, keys, names, TREND_RUNS)
    return [
        f"{suite}: {line}"
        for suite, kind, cases in suites
        for t in trends(kind, cases, table)
        for line in t.change_lines()
    ]
