"""A Comparison shown two ways: a terminal summary listing only what changed, and an HTML diff report."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from benchharness import stats
from benchharness.compare import Comparison, MetricChange, RatioChange
from benchharness.gates import find_gate
from benchharness.readings import metric_spec
from benchharness.report.embed import embedded_json
from benchharness.report.html import templates
from benchharness.results import COMPARE_DATA_ID, RunResult
from benchharness.storage import write_text_atomic
from benchharness.units import show
from benchharness.verdicts import NOT_DECIDED

EXACT = "exact (deterministic: a re-run gives the same figure)"


def interval(change: MetricChange | RatioChange) -> str:
    """The change's 95% interval; for a deterministic figure (an accuracy, a file size; a gate that cannot be
    confirmed by a re-run) that it is exact, since it has no interval by nature rather than for want of rounds."""
    if change.low is not None and change.high is not None:
        if isinstance(change, RatioChange):
            return f"[{change.low:.3f}x, {change.high:.3f}x]"
        return f"[{change.low:+.1%}, {change.high:+.1%}]"
    if isinstance(change, RatioChange):
        gate = find_gate(change.gate)
        exact = gate is not None and not gate.confirmable
    else:
        spec = metric_spec(change.metric)
        exact = spec is not None and spec.deterministic
    return EXACT if exact else "no interval (a side without round samples)"


def ratio_value(change: RatioChange, value: float) -> str:
    """A gate ratio as the gate prints it ('100.2%', '1.84x'), never a bare '1'."""
    gate = find_gate(change.gate)
    return gate.show(value) if gate is not None else f"{value:.3g}"


def ratio_side(change: RatioChange, side: str) -> str:
    """One side's gate ratio as the row shows it: the figure, and where its failure's re-run did not confirm it,
    that too ("0.485 (unconfirmed; re-run 1.37x)"): the verdict beside it stands on the re-run, not the figure."""
    value, note = (change.old, change.old_note) if side == "old" else (change.new, change.new_note)
    return ratio_value(change, value) + (f" ({note})" if note else "")


def status_word(change: MetricChange | RatioChange) -> str:
    """The status as a reader sees it: a move the noise cannot place is "not decided" here as in the summary and
    the baseline check (verdicts.NOT_DECIDED); the stored "unknown" stays the value's name, not its word."""
    return NOT_DECIDED if change.status == "unknown" else change.status


def why(change: MetricChange | RatioChange) -> str:
    """Why a row was not decided or not compared, as text in the row: a tooltip is lost to a reader who prints the
    page or does not hover, and these rows are the ones a reviewer must read the reason of. Empty for others."""
    if change.status not in ("unknown", "not compared"):
        return ""
    return change.reason or change.message


def describe(change: MetricChange | RatioChange) -> str:
    """One line: where, what, old -> new, the change with its interval."""
    if isinstance(change, RatioChange):
        return (
            f"{change.machine}: {change.key} gate {change.gate} {ratio_side(change, 'old')} -> "
            f"{ratio_side(change, 'new')} (moved {change.moved:.3f}x {interval(change)}): {status_word(change)}"
        )
    return (
        f"{change.machine}: {change.key} {change.metric} {show(change.old, change.unit)} -> {show(change.new, change.unit)} "
        f"({(change.change or 0):+.1%} {interval(change)}): {status_word(change)}"
    )


def terminal_summary(comparison: Comparison) -> list[str]:
    """Only what changed: regressions, improvements, verdicts that flipped, cases added or removed."""
    lines = [f"compare: {comparison.old_label} -> {comparison.new_label}"]
    lines += [f"note: {n}" for n in comparison.notes]
    if comparison.environment:
        lines.append(f"{len(comparison.environment)} environment difference(s) (any change below may come from these):")
        lines += [f"  {d}" for d in comparison.environment]
    for title, items in (("regressed", comparison.regressions), ("improved", comparison.improvements)):
        if items:
            lines.append(f"{len(items)} {title} past the noise:")
            lines += [f"  {describe(c)}" for c in items]
    if undecided := comparison.undecided:
        lines.append(f"{len(undecided)} {NOT_DECIDED} (the evidence cannot place the move either way):")
        for c in undecided:
            lines += [f"  {describe(c)}", f"    why: {why(c)}"]
        if any(c.reason.startswith(stats.SPREAD_UNKNOWN) for c in undecided):
            lines.append(
                f"  (a figure's spread between runs is learnt from {stats.MIN_REPLICATES}+ other runs of the machine "
                "in the history (--history) or extra children; without them only a move past the suite's run_factor "
                "is called)"
            )
    if not_compared := comparison.not_compared:
        lines.append(f"{len(not_compared)} not compared:")
        lines += [f"  {c.machine}: {c.key}: {c.message}" for c in not_compared]
    if comparison.verdicts:
        lines.append(f"{len(comparison.verdicts)} verdict(s) changed:")
        lines += [f"  {v.machine}: {v.key} {v.name}: {v.shown()}" for v in comparison.verdicts]
    if comparison.added:
        lines.append(f"{len(comparison.added)} case(s) added: " + ", ".join(comparison.added))
    if comparison.removed:
        lines.append(f"{len(comparison.removed)} case(s) removed: " + ", ".join(comparison.removed))
    compared = len(comparison.metrics) + len(comparison.ratios) - len(comparison.not_compared)
    if not comparison.changed and comparison.undecided:
        lines.append(
            f"no change decided in {compared} compared figure(s); {len(comparison.undecided)} not decided (above)"
        )
    elif not comparison.changed:
        lines.append(f"no change past the noise in {compared} compared figure(s)")
    else:
        lines.append(f"{compared} figure(s) compared; the rest are within the noise")
    return lines


STEADY_ROWS = 5_000  # figures listed in all, steady ones included, before steady ones are only counted


def _dated(source: Path, run: RunResult) -> Path:
    """`latest.json` is a copy the next run overwrites: a page links the dated results file of the same run.

    Found beside it by name (`results-*.json`, newest first) and by the run's own start and machine; the copy
    itself where none matches (it was moved, or written by hand).
    """
    if source.name != "latest.json":
        return source
    for candidate in sorted(source.parent.glob("results-*[0-9].json"), reverse=True):
        try:
            header = json.loads(candidate.read_text()).get("run", {})
        except (OSError, ValueError):
            continue
        if header.get("started") == run.started and (header.get("machine") or {}).get("id") == run.machine_id:
            return candidate
    return source


def _side(runs: Sequence[RunResult], page: Path | None) -> str:
    """Where one side's results lie, relative to the page's folder where it can be (the page links it)."""
    sources = sorted({r.source for r in runs})
    source = _dated(Path(sources[0]).resolve(), runs[0])
    if page is None:
        return str(source)
    return os.path.relpath(source, page.resolve().parent)


def render_compare(
    comparison: Comparison, old: Sequence[RunResult], new: Sequence[RunResult], page: Path | None = None
) -> str:
    """The diff page: the changes and their evidence, and a link to each side's results (never the results).

    Embedding both sides made a 50-machine lab's diff 83 MB. Each side's results stay in their files; the
    page names them in a small data block, so `load_runs` reads a compare page as its new side through it.
    Where more than STEADY_ROWS figures were compared (a lab), steady ones are counted, not listed.
    """
    rows = len(comparison.metrics) + len(comparison.ratios)
    listed = rows <= STEADY_ROWS
    metrics = [m for m in comparison.metrics if listed or m.status != "same"]
    ratios = [r for r in comparison.ratios if listed or r.status != "same"]
    sides = {"old": _side(old, page), "new": _side(new, page)}
    template = templates().get_template("compare.html.j2")
    return template.render(
        title=f"benchharness compare: {comparison.old_label} -> {comparison.new_label}",
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        c=comparison,
        metrics=metrics,
        ratios=ratios,
        steady_left_out=rows - len(metrics) - len(ratios),
        describe=describe,
        show=show,
        interval=interval,
        ratio_side=ratio_side,
        status_word=status_word,
        why=why,
        sides=sides,
        hrefs={side: quote(where) for side, where in sides.items()},
        data_block=embedded_json([sides], COMPARE_DATA_ID),
    )


def write_compare(path: Path, comparison: Comparison, old: Sequence[RunResult], new: Sequence[RunResult]) -> Path:
    write_text_atomic(path, render_compare(comparison, old, new, path))
    return path
