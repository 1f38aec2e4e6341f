"""The report's figures, drawn by matplotlib as static SVG text (no script, nothing fetched when opened).

Each function takes typed results and returns one `<svg>` element as a string. Text stays text
(`svg.fonttype = none`), so the figures are small and searchable, and the page's font is used.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchharness.gates import find_gate, in_display_order
from benchharness.readings import metric_spec
from benchharness.report.front import FrontChart
from benchharness.results import CaseResult


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _label(case: CaseResult) -> str:
    return f"{case.case.variant} {case.case.backend}"


PICK_COLOR = "#c2185b"  # the targets' marks; no backend colour (tab10) is this pink


def front_figure(chart: FrontChart) -> str | None:
    """The first screen's chart: accuracy vs speed, one point per backend and variant, the Pareto front
    (nothing both faster and more accurate) ringed and joined, each target's pick and runner-up marked."""
    if not chart.points:
        return None
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    backends = sorted({p.backend for p in chart.points})
    colors = {b: plt.get_cmap("tab10")(i % 10) for i, b in enumerate(backends)}
    marked: dict[str, list[str]] = {}
    for m in chart.marks:
        if m.on_chart:
            marked.setdefault(m.point, []).append(m.text)
    for p in chart.points:
        ax.scatter(
            p.speed,
            p.accuracy,
            s=60 if p.on_front else 30,
            color=colors[p.backend],
            edgecolors="black" if p.on_front else "none",
            linewidths=1.2,
            zorder=3,
        )
        if marked.get(p.label):
            ax.scatter(p.speed, p.accuracy, s=260, marker="*", color=PICK_COLOR, zorder=2, linewidths=0)
    ax.margins(x=0.15, y=0.15)
    low, high = ax.get_xlim()
    labels: list[Any] = []
    for p in chart.points:
        # a label reads rightwards, except near the right edge, where it would run into the legend
        right = (p.speed - low) / ((high - low) or 1.0) > 0.6
        where = {"xytext": (-7 if right else 7, 5), "ha": "right" if right else "left"}
        texts = marked.get(p.label)
        if texts:  # the pick's label says so, in the marks' colour
            text, style = f"{p.label}: {', '.join(texts)}", {"fontsize": 8.5, "fontweight": "bold", "color": PICK_COLOR}
        else:
            text, style = p.label, {"fontsize": 8}
        labels.append(ax.annotate(text, (p.speed, p.accuracy), textcoords="offset points", **where, **style))
    line = sorted((p.speed, p.accuracy) for p in chart.points if p.on_front)
    ax.plot([x for x, _ in line], [y for _, y in line], color="black", linewidth=1, linestyle="--", zorder=1)
    ax.plot([], [], color="black", linewidth=1, linestyle="--", label="Pareto front (ringed)")
    if marked:
        ax.scatter([], [], s=120, marker="*", color=PICK_COLOR, label="a target's pick / runner-up")
    for b in backends:
        ax.scatter([], [], color=colors[b], label=b)
    speed_spec, acc_spec = metric_spec(chart.speed_metric), metric_spec(chart.accuracy_metric)
    ax.set_xlabel(f"{speed_spec.label if speed_spec else chart.speed_metric} ({speed_spec.unit if speed_spec else ''})")
    ax.set_ylabel(acc_spec.label if acc_spec else chart.accuracy_metric)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}" if abs(x) >= 100 else f"{x:g}"))
    if acc_spec is not None and acc_spec.unit == "fraction":
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))  # decimals as the axis's span needs them
    ax.set_title(f"{chart.title}: accuracy vs speed")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _unstack(fig, labels)
    return _svg(fig)


def _unstack(fig: Any, labels: Sequence[Any]) -> None:
    """Move each point label down below any label above it that it overlaps, so close points stay readable
    (a pick and its runner-up are often neighbours: their labels were drawn over each other)."""
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    for label in sorted(labels, key=lambda a: -a.get_window_extent(renderer).y1):
        for _ in range(len(labels)):
            box = label.get_window_extent(renderer)
            hit = next((b for b in placed if b.overlaps(box)), None)
            if hit is None:
                break
            x, y = label.xyann
            label.xyann = (x, y - (box.y1 - hit.y0) * 72 / fig.dpi - 1)
        placed.append(label.get_window_extent(renderer))


@dataclass(frozen=True)
class GateBar:
    label: str
    estimate: float
    low: float | None
    high: float | None
    threshold: float
    status: str


STATUS_COLORS = {"pass": "#2e7d32", "fail": "#c62828", "inconclusive": "#ef6c00", "unavailable": "#9e9e9e"}


@dataclass(frozen=True)
class GatePanels:
    """The gate figure's layout: one row per variant, the same rows in every gate's panel.

    A panel whose gate judged fewer variants leaves their rows empty instead of stretching its own
    bars over the whole panel (one bar used to fill a panel's height beside another panel's five).
    """

    variants: tuple[str, ...]  # the rows, top to bottom, in the order the cases ran
    panels: tuple[tuple[str, tuple[GateBar | None, ...]], ...]  # (gate, one bar or None per row)


def gate_panels(cases: Sequence[CaseResult]) -> GatePanels:
    """Per gate, the bar of each variant judged on it (unavailable ones have no estimate to draw)."""
    bars: dict[str, dict[str, GateBar]] = {}
    rows: dict[str, None] = {}
    for c in cases:
        for v in c.gate_verdicts():
            if v.estimate is None or v.threshold is None:
                continue
            label = _label(c)
            rows[label] = None
            bars.setdefault(v.name, {})[label] = GateBar(label, v.estimate, v.low, v.high, v.threshold, v.status)
    variants = tuple(rows)
    names = [g.name for g in in_display_order() if g.name in bars] + sorted(n for n in bars if find_gate(n) is None)
    return GatePanels(variants, tuple((n, tuple(bars[n].get(label) for label in variants)) for n in names))


def gates_figure(cases: Sequence[CaseResult], title: str) -> str | None:
    """Each gate's ratio per variant with its interval, against the gate's line; rows shared by every panel."""
    layout = gate_panels(cases)
    return _svg(draw_gates(layout, title)) if layout.panels else None


def draw_gates(layout: GatePanels, title: str) -> Any:
    """The matplotlib figure of `layout` (at least one panel): kept apart so tests can read its axes."""
    plt = _pyplot()
    rows = len(layout.variants)
    fig, axes = plt.subplots(
        1, len(layout.panels), figsize=(3.3 * len(layout.panels), rows * 0.32 + 1.0), squeeze=False, sharey=True
    )
    for ax, (name, bars) in zip(axes[0], layout.panels, strict=True):
        drawn = [(y, b) for y, b in enumerate(bars) if b is not None]
        ax.barh(
            [y for y, _ in drawn],
            [b.estimate for _, b in drawn],
            xerr=[
                [b.estimate - (b.low if b.low is not None else b.estimate) for _, b in drawn],
                [(b.high if b.high is not None else b.estimate) - b.estimate for _, b in drawn],
            ],
            color=[STATUS_COLORS.get(b.status, "#9e9e9e") for _, b in drawn],
            capsize=2,
            height=0.6,
        )
        threshold = drawn[0][1].threshold
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
        for y, b in enumerate(bars):
            if b is None:
                ax.text(threshold, y, " not gated", va="center", fontsize=7, color="#757575")
        gate = find_gate(name)
        ax.set_title(f"{gate.axis_label if gate else name} (gate {threshold:g})", fontsize=9)
    first = axes[0][0]
    first.set_yticks(range(rows), list(layout.variants), fontsize=8)
    first.set_ylim(rows - 0.5, -0.5)  # shared: every panel has one row per variant, the first at the top
    first.set_ylabel(title, fontsize=8)
    return fig


def distribution_figure(cases: Sequence[CaseResult], series: str, title: str) -> str | None:
    """Box plots of one per-round or per-token series (e.g. every decode step's time) per variant."""
    rows = [(c, c.measurement.round_samples.get(series)) for c in cases if c.measurement is not None]
    rows = [(c, s) for c, s in rows if s]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 0.32 * len(rows) + 1.2))
    ax.boxplot([s for _, s in rows], orientation="horizontal", showfliers=True, flierprops={"markersize": 2})
    ax.set_yticks(range(1, len(rows) + 1), [_label(c) for c, _ in rows], fontsize=8)
    ax.invert_yaxis()
    spec = metric_spec(series)
    unit = spec.unit if spec else ("ms" if series.endswith("_ms") else "")
    ax.set_xlabel(f"{series} ({unit})" if unit else series)
    ax.set_title(title)
    return _svg(fig)


def trend_figure(
    lines: Mapping[str, Sequence[tuple[str, float]]], change_points: Mapping[str, Sequence[int]], title: str, unit: str
) -> str | None:
    """One figure over the last runs of one machine, a line per variant; change points marked with a red ring."""
    lines = {k: v for k, v in lines.items() if len(v) >= 2}
    if not lines:
        return None
    plt = _pyplot()
    runs = sorted({started for points in lines.values() for started, _ in points})
    position = {started: i for i, started in enumerate(runs)}
    fig, ax = plt.subplots(figsize=(7.0, 2.6))
    scale = 2**20 if unit == "B" else 1.0
    unit = "MiB" if unit == "B" else unit
    for label, points in lines.items():
        x = [position[s] for s, _ in points]
        y = [v / scale for _, v in points]
        ax.plot(x, y, marker="o", markersize=3, linewidth=1, label=label)
        for index in change_points.get(label, ()):
            ax.scatter([x[index]], [y[index]], s=90, facecolors="none", edgecolors="#c62828", linewidths=1.5, zorder=4)
    step = max(1, math.ceil(len(runs) / 6))
    ax.set_xticks(range(0, len(runs), step), [r[:16].replace("T", " ") for r in runs][::step], fontsize=7)
    ax.set_ylabel(unit)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _svg(fig)


def roofline_figure(cases: Sequence[CaseResult], bandwidth_gb_per_s: float | None, title: str) -> str | None:
    """Achieved read rate (decode tok/s x bytes per token) per variant against the machine's measured bandwidth.

    A roofline's memory-bound side for decode: a bar at the line is a runtime reading every byte as fast
    as the memory delivers; a bar far below it is held back by compute or per-token overhead.
    """
    rows = []
    for case in cases:
        rate = case.measurement.readings.get("decode_read_gb_per_s") if case.measurement else None
        if rate is not None and rate.value is not None:
            share = case.measurement.readings.get("mbu") if case.measurement else None
            rows.append((_label(case), rate.value, share.value if share is not None else None))
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 0.32 * len(rows) + 1.2))
    y = list(range(len(rows)))
    ax.barh(y, [r[1] for r in rows], color="#5c6bc0", height=0.6)
    for i, (_, value, mbu) in enumerate(rows):
        if mbu is not None:
            ax.text(value, i, f" {mbu:.0%}", va="center", fontsize=8)
    if bandwidth_gb_per_s is not None:
        ax.axvline(bandwidth_gb_per_s, color="black", linestyle="--", linewidth=1)
        ax.text(bandwidth_gb_per_s, -0.7, f"measured read bandwidth {bandwidth_gb_per_s:.1f} GB/s", fontsize=8)
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("decode read rate, GB/s (tok/s x bytes per token); label: MBU")
    ax.set_title(title, fontsize=9)
    return _svg(fig)
