"""The lab report as a folder of static pages: a first page that stays small, one page per machine, the merged results.

A lab of fifty machines in one HTML file was 75 MB (41 MB of embedded results, 20 MB of inline SVG, a
report per machine repeated in full) and took minutes to draw, one machine after another. The lab report
is now

    lab.html                       the first page: what to ship per machine class, what failed, what
                                   changed, the lab table, and a link to every machine's page
    lab_files/machines/<id>.html   each machine's full report (every figure the one-run report shows,
                                   its results embedded, so `benchharness compare` reads it alone)
    lab_files/results.json         the merged runs, machine-readable (`load_runs` reads it, and reads
                                   lab.html through it)

All of it opens from disk with no server and no script. A machine's page is its own report, drawn where
it ran, when merge is handed that report (or finds it beside the results file, with the same run
embedded) and adds nothing to it (no --config): drawing is where the time goes, and the lab's machines
drew their pages in parallel already. With --history as well: the machine's report drew its trends from
the lab's store when it ran, and the first page's change points are read from the store directly (one
batched read per machine, report/trends.py), no figure drawn. Otherwise the pages are drawn here, one
process per usable CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchharness.errors import StoreError
from benchharness.records import AS_REFERENCE
from benchharness.report.changes import changes
from benchharness.report.embed import embedded_json, extract_embedded
from benchharness.report.html import FAILED, lab_table, templates
from benchharness.report.recommend import Recommendation, recommend
from benchharness.report.targets import TargetPick, pick
from benchharness.report.trends import machine_change_points
from benchharness.results import LAB_DATA_ID, REPORT_DATA_ID, RunResult, lab_document
from benchharness.settings import Target
from benchharness.storage import write_text_atomic

MARKER = "results.json"  # a lab folder holds it; merge replaces only a folder that does
MAX_OTHER_PAGES = 4  # an unnamed page beside a results file is looked for only among this few


def files_dir(page: Path) -> Path:
    """Where the lab page's other files live: `lab.html` -> `lab_files/`, as a browser's "save page" names it."""
    return page.with_name(page.stem + "_files")


def machine_page(machine_id: str) -> str:
    """A machine's page, relative to the files folder (the id made safe for a file name, kept unique by a hash)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in machine_id)
    if safe != machine_id:
        safe += "-" + hashlib.sha256(machine_id.encode()).hexdigest()[:8]
    return f"machines/{safe}.html"


def machine_class(run: RunResult) -> str:
    """What makes figures comparable between machines (machine.py's fingerprint): CPU, ISA, cores, accelerators."""
    m = run.machine
    isa = " ".join(sorted(m.get("isa") or [])) or "no ISA flags recorded"
    gpus = ", ".join(m.get("gpus") or []) or "no accelerator"
    return f"{m.get('cpu')}, {m.get('physical_cores')} cores, {gpus} [{isa}]"


def own_report(run: RunResult) -> Path | None:
    """The report its session wrote for exactly this run, if it was handed in or lies beside the results file.

    The session writes `report-<time>.html` beside `results-<time>.json`, `latest.html` beside `latest.json`,
    or the `--report` path it was given (the nightly lab's `report-<machine>.html`); those are tried first,
    then the folder's other pages where it holds a few (an artifact folder, not a year of reports). A page is
    used only when the run embedded in it is this run.
    """
    source = Path(run.source)
    if source.suffix.lower() in (".html", ".htm"):
        candidates = [source]
    elif source.suffix.lower() == ".json" and source.parent.is_dir():
        named = [source.with_name("latest.html")] if source.name == "latest.json" else []
        if source.name.startswith("results-"):
            named.append(source.with_name("report-" + source.name.removeprefix("results-")).with_suffix(".html"))
        others = sorted(p for p in source.parent.glob("*.html") if p not in named)
        candidates = named + (others if len(others) <= MAX_OTHER_PAGES else [])
    else:
        return None
    for candidate in candidates:
        if not candidate.is_file():
            continue
        try:
            embedded = extract_embedded(candidate, REPORT_DATA_ID)
        except StoreError:
            continue  # a lab page, a compare page, or no benchharness page at all
        if embedded == [run.data]:
            return candidate
    return None


@dataclass(frozen=True)
class FailedGroup:
    """One failure seen on one or more machines: the same case, outcome and first line of its cause."""

    case_id: str
    outcome: str
    cause: str
    machines: tuple[str, ...]


def failed_groups(runs: Sequence[RunResult]) -> list[FailedGroup]:
    """Every failed case of the lab, one row per (case, outcome, cause), naming the machines it happened on."""
    found: dict[tuple[str, str, str], list[str]] = {}
    for run in runs:
        for c in run.cases:
            if c.outcome in FAILED:
                cause = (c.message or "(no message recorded)").splitlines()[0]
                found.setdefault((c.case.id, c.outcome, cause), []).append(run.machine_id)
    return [FailedGroup(case, outcome, cause, tuple(ms)) for (case, outcome, cause), ms in found.items()]


@dataclass(frozen=True)
class ChangedGroup:
    """One check that moved past the noise, with the machines it moved on."""

    case_id: str
    check: str
    direction: str
    machines: tuple[str, ...]
    example: str  # the first machine's message


def changed_groups(runs: Sequence[RunResult]) -> tuple[list[ChangedGroup], int]:
    """Every baseline and ratio check that moved, grouped across machines (regressions first); and how many checks."""
    found: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    checked = 0
    for run in runs:
        moved = changes(run)
        checked += moved.checked
        for c in moved.changes:
            found.setdefault((c.direction, c.case_id, c.check), []).append((run.machine_id, c.message))
    rows = [
        ChangedGroup(case, check, direction, tuple(m for m, _ in hits), hits[0][1])
        for (direction, case, check), hits in sorted(found.items(), key=lambda kv: kv[0][0] != "regressed")
    ]
    return rows, checked


@dataclass(frozen=True)
class ShipRow:
    """Per machine class, model and device: which variant each machine's recommendation ships, counted."""

    model: str
    device: str
    picks: tuple[tuple[str, int], ...]  # (variant, machines), most first
    machines: int


@dataclass
class ClassView:
    name: str
    machines: list[str]
    ship: list[ShipRow]
    recommendations: list[Recommendation]
    target_picks: list[TargetPick]


def class_views(runs: Sequence[RunResult], targets: Sequence[Target]) -> list[ClassView]:
    """The machines grouped by class, each group's recommendations counted per model and device."""
    views: dict[str, ClassView] = {}
    for run in runs:
        view = views.setdefault(machine_class(run), ClassView(machine_class(run), [], [], [], []))
        view.machines.append(run.machine_id)
        view.recommendations += recommend(run)
        view.target_picks += [answer for target in targets for answer in pick(target, run)]
    for view in views.values():
        counted: dict[tuple[str, str], dict[str, int]] = {}
        for rec in view.recommendations:
            if rec.fastest is not None:
                name = rec.fastest.name
            else:  # recommend's two ways of having no pick: nothing measured, or nothing passes every gate
                name = "no optimized variant passes: the reference" if rec.considered else "nothing measured"
            per = counted.setdefault((rec.model, rec.device), {})
            per[name] = per.get(name, 0) + 1
        view.ship = [
            ShipRow(model, device, tuple(sorted(per.items(), key=lambda kv: -kv[1])), sum(per.values()))
            for (model, device), per in counted.items()
        ]
    return list(views.values())


@dataclass(frozen=True)
class MachineRow:
    machine: str
    machine_class: str
    page: str  # relative to the lab page
    started: str
    counts: str  # passed / failed / skipped
    drawn: str  # "its own report" or "drawn by merge"
    change_points: tuple[str, ...]


def _draw_page(
    data: dict[str, object],
    source: str,
    path: str,
    history_url: str | None,
    title: str,
    targets: Sequence[Target],
) -> list[str]:
    """One machine's full report, drawn in a worker process; returns the change points its trends found."""
    from benchharness.history.store import HistoryStore
    from benchharness.report.html import render_report, run_view

    run = RunResult.from_dict(data, source)
    history = HistoryStore(history_url) if history_url else None
    try:
        view = run_view(run, history, targets)
        write_text_atomic(Path(path), render_report([run], title=title, views=[view], targets=targets))
    finally:
        if history is not None:
            history.close()
    return [f"{s.name}: {line}" for s in view.suites for line in s.change_points]


def _reused_change_points(runs: Sequence[RunResult], history_url: str | None) -> dict[str, list[str]]:
    """The first page's change points of machines whose page is their own report: read from the store, not drawn.

    One `series_table` read per machine, one store for all; the lines are those the machine's page
    would list had merge drawn it (report/trends.py words both).
    """
    if history_url is None or not runs:
        return {}
    from benchharness.history.store import HistoryStore

    history = HistoryStore(history_url)
    try:
        return {r.machine_id: machine_change_points(r, history) for r in runs}
    finally:
        history.close()


def workers(jobs: int) -> int:
    """Processes to draw with: one per CPU this process may use, never more than there are pages."""
    return max(1, min(jobs, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def write_lab(
    path: Path,
    runs: Sequence[RunResult],
    history_url: str | None = None,
    title: str | None = None,
    targets: Sequence[Target] = (),
) -> tuple[Path, int]:
    """Write the lab report's first page at `path` and its files beside it; returns the page and pages drawn here."""
    if not runs:
        raise ValueError("write_lab needs at least one run")
    folder = files_dir(path)
    if folder.exists() and not (folder / MARKER).is_file():
        raise StoreError(
            f"{folder} exists and is not a lab report's folder (no {MARKER}); move it away or choose another --out"
        )
    staging = folder.with_name(f".{folder.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "machines").mkdir(parents=True)
    title = title or f"benchharness lab report: {len(runs)} machines"
    # Target answers are merge's own addition to a machine's page; trends are not: a machine's report drew its
    # trends from the lab's store when it ran, so --history reuses it too and reads the change points below.
    adds = bool(targets)
    reused = {r.machine_id: found for r in runs if not adds and (found := own_report(r)) is not None}
    to_draw = [r for r in runs if r.machine_id not in reused]
    for machine, report in reused.items():
        shutil.copyfile(report, staging / machine_page(machine))
    found_points = _reused_change_points([r for r in runs if r.machine_id in reused], history_url)
    if to_draw:
        with ProcessPoolExecutor(workers(len(to_draw))) as pool:
            futures = {
                r.machine_id: pool.submit(
                    _draw_page,
                    r.data,
                    r.source,
                    str(staging / machine_page(r.machine_id)),
                    history_url,
                    f"{r.label} (lab: {title})",
                    tuple(targets),
                )
                for r in to_draw
            }
            found_points.update({m: f.result() for m, f in futures.items()})
    document = lab_document([r.data for r in runs])
    (staging / MARKER).write_text(json.dumps(document, sort_keys=True, allow_nan=False, separators=(",", ":")))
    rows = [
        MachineRow(
            r.machine_id,
            machine_class(r),
            f"{folder.name}/{machine_page(r.machine_id)}",
            r.started,
            " / ".join(
                str(n)
                for n in (
                    sum(c.outcome in ("passed", AS_REFERENCE, "xfailed", "xpassed") for c in r.cases),
                    sum(c.outcome in FAILED for c in r.cases),
                    sum(c.outcome == "skipped" for c in r.cases),
                )
            ),
            "its own report" if r.machine_id in reused else "drawn by merge",
            tuple(found_points.get(r.machine_id, ())),
        )
        for r in runs
    ]
    groups, lab_rows = lab_table(runs)
    moved, checked = changed_groups(runs)
    page = (
        templates()
        .get_template("lab.html.j2")
        .render(
            title=title,
            generated=datetime.now(UTC).isoformat(timespec="seconds"),
            classes=class_views(runs, targets),
            failed=failed_groups(runs),
            moved=moved,
            checked=checked,
            machines=rows,
            history=history_url is not None,
            lab_groups=groups,
            lab_rows=lab_rows,
            results=f"{folder.name}/{MARKER}",
            data_block=embedded_json([{"results": f"{folder.name}/{MARKER}"}], LAB_DATA_ID),
        )
    )
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)
    write_text_atomic(path, page)
    return path, len(to_draw)
