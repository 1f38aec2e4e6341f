"""The HTML report: one self-contained file per run (or per lab of merged runs), written by jinja2 templates.

Nothing in it is fetched when it is opened: styles are inline, figures are inline SVG, there is no
script to run, and a Content-Security-Policy forbids any network load. The results themselves are
embedded, so `benchharness compare` can read an old report as it reads a results JSON.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchharness import kinds, units
from benchharness.cost import seconds
from benchharness.faults import FaultedPath
from benchharness.formats.composition import WeightComposition
from benchharness.gates import MEMORY_REDUCTION, find_gate
from benchharness.history.store import HistoryStore
from benchharness.meters.noise import Noise
from benchharness.readings import METRICS, base_name, metric_spec
from benchharness.records import AS_REFERENCE
from benchharness.report import figures, profiles_view
from benchharness.report.changes import Changes, changes
from benchharness.report.embed import embedded_json
from benchharness.report.front import FrontChart, front_charts
from benchharness.report.provenance import describe, provenance_of
from benchharness.report.recommend import Recommendation, accuracy_metric, recommend, speed_metric
from benchharness.report.targets import TargetPick, pick
from benchharness.report.trends import FAILED, TREND_RUNS, shown, trend_names, trends
from benchharness.results import REPORT_DATA_ID, CaseResult, RunResult
from benchharness.settings import Target
from benchharness.storage import write_text_atomic
from benchharness.units import show


@dataclass(frozen=True)
class Cell:
    text: str
    status: str = ""  # css class: pass / fail / inconclusive / unavailable / regressed / improved
    title: str = ""  # the full message, shown on hover


@dataclass(frozen=True)
class MetricTable:
    """Rows are metrics, columns are the suite's variants: every figure with its spread and unit."""

    columns: list[str]
    rows: list[tuple[str, str, list[Cell]]]  # (metric, label, cells)


@dataclass(frozen=True)
class Failure:
    """A case that failed: crashed, errored or breached a gate, with its cause and the child's last output."""

    case_id: str
    outcome: str
    message: str
    log_tail: tuple[str, ...]


def failures(run: RunResult) -> list[Failure]:
    """Every failed case of `run`, in the order the cases ran: what the report shows first."""
    return [
        Failure(c.case.id, c.outcome, c.message or "(no message recorded)", c.log_tail)
        for c in run.cases
        if c.outcome in FAILED
    ]


@dataclass
class SuiteView:
    name: str
    kind: str
    cases: list[CaseResult]  # measured or failed: each is a column of the tables
    skipped: list[tuple[str, str]]  # (case id, reason): skipped or deselected, never a failure
    metrics: MetricTable
    verdicts: list[tuple[str, str, list[Cell]]]  # (case id, outcome, verdict cells)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (caption, svg)
    change_points: list[str] = field(default_factory=list)
    history_note: str | None = None


@dataclass
class RunView:
    run: RunResult
    failures: list[Failure]
    environment: list[tuple[str, str]]
    recommendations: list[Recommendation]
    suites: list[SuiteView]
    target_picks: list[TargetPick] = field(default_factory=list)  # each deployment target's answer
    fronts: list[tuple[FrontChart, str | None]] = field(default_factory=list)  # the first screen: (chart, svg)
    changes: Changes = field(default_factory=lambda: Changes((), 0))


SUSTAINED_CAPTION = (
    "Sustained load: decode tok/s per interval (dotted: 10% under the first minute, dashed: where it first dropped "
    "below it and stayed; faint: the CPU clock where the OS exposes it)"
)


def _noise(info: object) -> str:
    if not isinstance(info, dict):
        return "not read (no case was measured, or a run from before it was recorded)"
    try:
        noise = Noise(**info)
    except TypeError:  # written by another version of the harness
        return ", ".join(f"{k} {v}" for k, v in sorted(info.items()))
    return noise.summary()


def _bandwidth(info: object) -> float | None:
    """The run's measured read bandwidth in GB/s (None where not measured or unavailable)."""
    if not isinstance(info, dict) or info.get("bytes_per_s") is None:
        return None
    return float(info["bytes_per_s"]) / 1e9


def _bandwidth_text(info: object) -> str:
    if not isinstance(info, dict):
        return "not measured (no decode row in this run, or a run from before it was recorded)"
    if info.get("bytes_per_s") is None:
        return f"unavailable: {info.get('unavailable_reason')}"
    passes = ", ".join(f"{v:g}" for v in info.get("passes_gb_per_s") or [])
    return f"{float(info['bytes_per_s']) / 1e9:.1f} GB/s ({info.get('source')}; passes {passes} GB/s)"


def _suite_workloads(run: RunResult) -> list[tuple[str, str]]:
    """Each suite whose own workload differs from the global one, with the settings that define its figures.

    The "workload" row is the run's global table; a suite with its own `[suites.NAME.workload]` measured
    something else, and its rows must not be read against the global settings.
    """
    run_settings = run.run.get("settings") or {}
    suites: dict[str, dict[str, object]] = {}
    for c in run.cases:
        suites.setdefault(c.case.suite, c.workload_key)
    return [
        (f"workload of suite {name}", ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))
        for name, settings in suites.items()
        if settings and settings != run_settings
    ]


def _environment(run: RunResult) -> list[tuple[str, str]]:
    m = run.machine
    rows = [
        ("machine id", run.machine_id),
        (
            "CPU",
            f"{m.get('cpu')} (family {m.get('cpu_family')}, model {m.get('cpu_model_number')}, stepping {m.get('cpu_stepping')})",
        ),
        ("ISA", " ".join(m.get("isa") or []) or "—"),
        (
            "cores / memory",
            f"{m.get('physical_cores')} physical, {m.get('logical_cores')} logical / {m.get('memory_gib')} GiB",
        ),
        ("accelerators", ", ".join(m.get("gpus") or []) or "none"),
        *(
            ("faulted path", f"{f.get('backend')} on {f.get('device')}: {FaultedPath(**f).warning()}")
            for f in m.get("faulted_paths") or []
        ),
        ("NVIDIA driver", str(m.get("nvidia_driver") or "—")),
        ("system", f"{m.get('system')} {m.get('arch')}, Python {m.get('python')}"),
        ("devices", ", ".join(run.run.get("devices") or []) or "—"),
        ("commit", f"none: {run.no_commit}" if run.no_commit else str(run.git_commit)),
        ("started / finished", f"{run.started} / {run.finished}"),
        ("threads", str(run.run.get("threads", "—"))),
        ("noise before the run", _noise(run.run.get("noise"))),
        ("read bandwidth", _bandwidth_text(run.run.get("bandwidth"))),
        ("packages", ", ".join(f"{k} {v}" for k, v in sorted(run.packages.items()))),
        ("workload", ", ".join(f"{k}={v}" for k, v in sorted((run.run.get("settings") or {}).items()))),
        *_suite_workloads(run),
        ("trials", ", ".join(f"{k}={v}" for k, v in sorted((run.run.get("trials") or {}).items()))),
    ]
    cost = run.run.get("cost") or {}
    if cost:
        rows.append(
            (
                "cost",
                f"{_seconds(cost.get('wall_s'))} wall: {_seconds(cost.get('timed_s'))} timed, "
                f"{_seconds(cost.get('accuracy_s'))} accuracy, {_seconds(cost.get('other_s'))} elsewhere "
                f"({cost.get('children')} children)",
            )
        )
    return rows


def _seconds(value: object) -> str:
    """A stored cost's seconds as the terminal prints them (cost.seconds); a file without the figure says so."""
    return seconds(value) if isinstance(value, (int, float)) else "? s"


def _metric_order(name: str) -> tuple[int, tuple[tuple[int, str], ...]]:
    """METRICS' order, then the suffix in natural order: pp200 before pp1000 (as text it came after)."""
    base = base_name(name)
    order = list(METRICS)
    chunks = tuple((int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", name) if part)
    return (order.index(base) if base in order else len(order), chunks)


def _metric_table(cases: list[CaseResult]) -> MetricTable:
    names = sorted({n for c in cases if c.measurement for n in c.measurement.readings}, key=_metric_order)
    rows = []
    for name in names:
        spec = metric_spec(name)
        cells = []
        for c in cases:
            reading = c.measurement.readings.get(name) if c.measurement else None
            if c.measurement is None:  # a failed case is a column that says so, not a missing one
                cells.append(Cell(c.outcome, "fail", c.message or ""))
            elif reading is None:
                cells.append(Cell("—"))
            elif reading.value is None:
                cells.append(Cell("unavailable", "unavailable", reading.unavailable_reason or ""))
            else:
                spread = units.spread(reading.value, reading.stdev)
                cells.append(Cell(show(reading.value, reading.unit) + spread, "", f"n={reading.n}; {reading.source}"))
        rows.append((name, spec.label if spec else name, cells))
    rows += _weights_rows(cases)
    rows += _answers_rows(cases)
    if any(provenance_of(c) for c in cases):  # who made each variant: INT4 by Olive vs by the GenAI builder
        rows.append(("made_by", "made by", [Cell(describe(provenance_of(c)) or "—") for c in cases]))
    return MetricTable([f"{c.case.variant} {c.case.backend}" for c in cases], rows)


def _answers_rows(cases: list[CaseResult]) -> list[tuple[str, str, list[Cell]]]:
    """The team's prompts: how many answers each variant changed against its reference, each way, and where
    the timed prompts came from (tasks/answers.py)."""
    lms = [c.measurement.info.lm if c.measurement else None for c in cases]
    found = [lm.answers if lm is not None else None for lm in lms]
    if not any(found):
        return []
    flips, timed = [], []
    for c, lm, answers in zip(cases, lms, found, strict=True):
        counts = answers.flips if answers is not None else None
        if counts is not None:
            text = f"-{counts.right_to_wrong} / +{counts.wrong_to_right} of {counts.items}"
            why = "right in the reference and wrong here / wrong in the reference and right here"
            flips.append(Cell(text, "inconclusive" if counts.right_to_wrong else "", why))
        else:
            flips.append(Cell("ref" if c.case.is_reference else "—"))
        source = lm.workload_prompts if lm is not None else None
        timed.append(Cell("prompts" if source and source.startswith("prompts") else "corpus", "", source or ""))
    return [
        ("answer_flips", "answers flipped against the reference (right→wrong / wrong→right)", flips),
        ("workload_prompts", "timed prompts taken from", timed),
    ]


def _weights(case: CaseResult) -> WeightComposition | None:
    return case.measurement.info.weights if case.measurement else None


def _weights_rows(cases: list[CaseResult]) -> list[tuple[str, str, list[Cell]]]:
    """What each variant's weights are stored as, and their bits per weight (formats/composition.py)."""
    found = [_weights(c) for c in cases]
    if not any(found):
        return []
    types, bits = [], []
    for weights in found:
        if weights is None:
            types.append(Cell("—"))
            bits.append(Cell("—"))
            continue
        share = weights.requested_share
        note = f"requested {weights.requested or 'type not known'}" + (
            "" if share is None else f": {share:.0%} of the parameters"
        )
        types.append(Cell(weights.summary(), "inconclusive" if weights.warning() else "", note))
        value = weights.bits_per_weight
        how = f"8 x {weights.weight_bytes} bytes / {weights.total} parameters (scales and zero points included)"
        bits.append(Cell("—" if value is None else f"{value:.2f}", "", how))
    return [("weights", "weights (types by parameters)", types), ("bits_per_weight", "bits per weight", bits)]


def _verdict_rows(cases: list[CaseResult]) -> list[tuple[str, str, list[Cell]]]:
    rows = []
    for c in cases:
        cells = [
            Cell(
                f"{v.check} {v.name}: {v.status_word}" + (" (known breach)" if v.known_breach else ""),
                v.status,
                v.message,
            )
            for v in c.verdicts
        ]
        flags = c.measurement.info.flags if c.measurement else ()
        cells += [
            Cell(
                f"flag {f.name}",
                "inconclusive",
                f.figure + (f"; likely: {f.causes}; try: {f.actions}" if f.actions else ""),
            )
            for f in flags
        ]
        if c.outcome in FAILED and not any(v.status == "fail" for v in c.verdicts):
            cells.insert(0, Cell(c.outcome, "fail", c.message or ""))
        warnings = c.measurement.warnings if c.measurement else ()
        cells += [Cell("warning", "inconclusive", w) for w in warnings if w.startswith(("measured with ", "weights: "))]
        rows.append((c.case.id, c.outcome, cells))
    return rows


def _trend_figures(view: SuiteView, run: RunResult, history: HistoryStore) -> None:
    # Every case's figures in one read (HistoryStore.series_table), not one query per case and figure; the
    # series and their change points come from report/trends.py, which the lab's first page reads too.
    names = trend_names(view.kind)
    table = history.series_table(run.machine_id, [c.key for c in view.cases], names, TREND_RUNS)
    found = trends(view.kind, view.cases, table)
    for name in names:
        lines: dict[str, list[tuple[str, float]]] = {}
        changes: dict[str, list[int]] = {}
        for t in (t for t in found if t.name == name):
            lines[t.label] = [(p.started, p.value) for p in t.points]
            changes[t.label] = [cp.index for cp in t.detection.points]
            view.change_points += t.change_lines()
            if t.detection.unavailable_reason and view.history_note is None:
                view.history_note = f"change points: {t.detection.unavailable_reason}"
        spec = metric_spec(name)
        gate = find_gate(name.removeprefix("gate:")) if name.startswith("gate:") else None
        unit = spec.unit if spec else (gate.unit if gate else "fraction")
        title = f"history on {run.machine_id}: {spec.label if spec else name.replace('gate:', 'gate ')}"
        svg = figures.trend_figure(lines, changes, title, unit)
        if svg:
            view.figures.append(
                (f"Trend of {name} over the last {TREND_RUNS} runs of this machine (red rings: change points)", svg)
            )
    if not any(caption.startswith("Trend") for caption, _ in view.figures):
        view.history_note = view.history_note or "history: fewer than 2 runs of this machine recorded; no trend yet"


def _suite_view(run: RunResult, name: str, cases: list[CaseResult], history: HistoryStore | None) -> SuiteView:
    measured = [c for c in cases if c.measurement is not None]
    shown_cases = shown(cases)
    skipped = [(c.case.id, c.message or c.outcome) for c in cases if c not in shown_cases]
    kind = measured[0].case.kind if measured else cases[0].case.kind
    view = SuiteView(name, kind, shown_cases, skipped, _metric_table(shown_cases), _verdict_rows(shown_cases))
    if not measured:
        return view
    svg = figures.gates_figure(measured, f"{name}: gate ratios with their intervals")
    if svg:
        view.figures.append(
            ("Each gate's ratio per variant (bars: estimate, whiskers: interval; dashed: the gate's line)", svg)
        )
    if kind == "causal-lm":
        line = _bandwidth(run.run.get("bandwidth"))
        svg = figures.roofline_figure(measured, line, f"{name}: decode read rate against the machine's bandwidth")
        if svg:
            view.figures.append(
                (
                    "Decode against the physical limit: bytes read per second per variant (weights + KV cache "
                    "x tok/s); dashed: this machine's measured read bandwidth; label: MBU",
                    svg,
                )
            )
    svg = profiles_view.sustained_figure(measured, f"{name}: sustained load")
    if svg:
        view.figures.append((SUSTAINED_CAPTION, svg))
    series = "decode_step_ms" if kind == "causal-lm" else "batch1_latency_ms"
    svg = figures.distribution_figure(measured, series, f"{name}: {series} distribution")
    if svg:
        view.figures.append((f"Distribution of {series} (every decode step / every round)", svg))
    if history is not None:
        _trend_figures(view, run, history)
    else:
        view.history_note = "history: off for this report (--history off)"
    return view


def run_view(run: RunResult, history: HistoryStore | None, targets: Sequence[Target] = ()) -> RunView:
    suites: dict[str, list[CaseResult]] = {}
    for c in run.cases:
        suites.setdefault(c.case.suite, []).append(c)
    picks = [answer for target in targets for answer in pick(target, run)]
    return RunView(
        run,
        failures(run),
        _environment(run),
        recommend(run),
        [_suite_view(run, name, cases, history) for name, cases in suites.items()],
        picks,
        [(chart, figures.front_figure(chart)) for chart in front_charts(run, picks)],
        changes(run),
    )


@dataclass(frozen=True)
class LabRow:
    suite: str
    variant: str  # model, variant, backend
    cells: list[Cell]  # per machine/device: speed, accuracy, memory, outcome


def lab_table(runs: Sequence[RunResult]) -> tuple[list[str], list[LabRow]]:
    """The merged view: one row per (suite, variant), a column group per machine and device."""
    groups = sorted({(r.machine_id, c.case.device) for r in runs for c in r.cases if c.measurement})
    rows: dict[tuple[str, str], dict[tuple[str, str], CaseResult]] = {}
    for r in runs:
        for c in r.cases:
            if c.measurement is not None:
                variant = f"{c.case.model} {c.case.variant} {c.case.backend}"
                rows.setdefault((c.case.suite, variant), {})[(r.machine_id, c.case.device)] = c
    out = []
    for (suite, variant), found in rows.items():
        cells = []
        for group in groups:
            if group not in found:
                cells += [Cell("—")] * 4
                continue
            c = found[group]
            s, a = speed_metric(c), accuracy_metric(c)
            memory = MEMORY_REDUCTION.figure(kinds.kind(c.case.kind))
            unit = lambda m: spec.unit if (spec := metric_spec(m)) else ""  # noqa: E731
            status = (
                "pass"
                if c.outcome in ("passed", AS_REFERENCE)
                else ("fail" if c.outcome in ("failed", "error") else "inconclusive")
            )
            cells += [
                Cell(show(c.value(s), unit(s))),
                Cell(show(c.value(a), unit(a))),
                Cell(show(c.value(memory), unit(memory))),
                Cell(c.outcome, status, c.message or ""),
            ]
        out.append(LabRow(suite, variant, cells))
    return [f"{m} ({d})" for m, d in groups], out


def templates() -> Any:
    """The jinja2 environment over this package's templates (report and compare share `_style.html.j2`)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("benchharness.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(
    runs: Sequence[RunResult],
    history: HistoryStore | None = None,
    title: str | None = None,
    targets: Sequence[Target] = (),
    views: Sequence[RunView] | None = None,
) -> str:
    """The whole report as one HTML string: one run, or a lab of several merged runs; each target answered per run.

    `views` are the runs' views when the caller already built them (a lab's machine page keeps its change points).
    """
    if not runs:
        raise ValueError("render_report needs at least one run")
    views = list(views) if views is not None else [run_view(r, history, targets) for r in runs]
    groups, lab_rows = lab_table(runs) if len(runs) > 1 else ([], [])
    template = templates().get_template("report.html.j2")
    return template.render(
        title=title
        or (
            f"benchharness lab report: {len(runs)} machines"
            if len(runs) > 1
            else f"benchharness report: {runs[0].label}"
        ),
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        views=views,
        lab_groups=groups,
        lab_rows=lab_rows,
        data_block=embedded_json([r.data for r in runs], REPORT_DATA_ID),
        targets=targets,
    )


def write_report(
    path: Path,
    runs: Sequence[RunResult],
    history: HistoryStore | None = None,
    title: str | None = None,
    targets: Sequence[Target] = (),
) -> Path:
    write_text_atomic(path, render_report(runs, history, title, targets))
    return path
