"""What pytest prints at the end: a table per model-kind table, then every verdict's evidence.

The table gives the figures and a one-word mark per gate; the lines under it give each gate's
estimate, interval, pair count and rule, and each confirmation, because a verdict is only as
trustworthy as the evidence a reader can see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from benchharness import kinds, units
from benchharness.advice import CAUSES
from benchharness.baseline_entry import NO_BASELINE
from benchharness.gates import Gate, in_display_order
from benchharness.judge import Verdict
from benchharness.kinds.base import Column
from benchharness.meters.bandwidth import Bandwidth
from benchharness.meters.utilisation import RULES
from benchharness.readings import Reading
from benchharness.report.provenance import made_by_lines
from benchharness.report.recommend import recommend
from benchharness.results import CaseResult, RunResult
from benchharness.run_flags import RULES as RUN_RULES
from benchharness.verdicts import INCONCLUSIVE, NOT_DECIDED


def _reading(record: CaseResult, metric: str) -> Reading | None:
    return None if record.measurement is None else record.measurement.readings.get(metric)


def _cell(record: CaseResult, column: Column) -> str:
    reading = _reading(record, column.metric)
    if reading is None:
        return "-"
    if reading.value is None:
        return "n/a"
    text = units.fixed(reading.value * column.scale, column.fmt)  # a 12 us latency keeps its digits in an ms column
    measured_spread = reading.stdev is not None and reading.n > 1  # one round has no spread: no "±0%"
    return f"{text}±{reading.cv:.0%}" if column.with_cv and measured_spread else text


def mark(verdict: Verdict) -> str:
    """One word for a verdict: ok, FAIL, inconclusive (a gate) or not decided (a between-run check), N/A, KNOWN
    (declared breach), XPASS (declared, passed). The undecided states read as everywhere else (Verdict.status_word),
    not as an abbreviation of their own."""
    if verdict.unexpected_pass:
        return "XPASS"
    if verdict.known_failure:
        return "KNOWN"
    return {"pass": "ok", "fail": "FAIL", "unavailable": "N/A"}.get(verdict.status, verdict.status_word)


def _ratio(record: CaseResult, name: str, fmt: str) -> str:
    verdict = next((v for v in record.verdicts if v.check == "gate" and v.name == name), None)
    if verdict is None:
        return "ref" if record.case.is_reference and record.measurement else "-"
    value = "" if verdict.estimate is None else units.fixed(verdict.estimate, fmt, digits=2) + " "  # as Gate.show
    return value + mark(verdict)


def _baseline(record: CaseResult) -> str:
    verdicts = [v for v in record.verdicts if v.check in ("baseline", "ratio")]
    if not verdicts:
        return "-"
    failed = [v.name for v in verdicts if v.status == "fail"]
    if failed:
        return "REGRESSED " + ",".join(failed)
    if any(v.status == "inconclusive" for v in verdicts):
        return NOT_DECIDED
    if all(v.status == "unavailable" for v in verdicts):
        return "none" if verdicts[0].name == NO_BASELINE else "not compared"
    return "ok"


Cell = tuple[str, Callable[[CaseResult], str]]


def _bits_per_weight(record: CaseResult) -> str:
    """The variant's bits per weight as stored (8 x bytes / parameters), '!' where its label overstates it."""
    weights = record.measurement.info.weights if record.measurement else None
    if weights is None:
        return "-"
    bits = weights.bits_per_weight
    return "-" if bits is None else f"{bits:.2f}" + ("!" if weights.warning() else "")


def _column_cell(column: Column) -> Callable[[CaseResult], str]:
    return lambda record: _cell(record, column)


def _flips(record: CaseResult) -> str:
    """Answers the variant changed against its reference: -right-to-wrong/+wrong-to-right (counts of prompts)."""
    lm = record.measurement.info.lm if record.measurement else None
    counts = lm.answers.flips if lm is not None and lm.answers is not None else None
    if counts is None:
        return "ref" if record.case.is_reference and record.measurement else "-"
    return f"-{counts.right_to_wrong}/+{counts.wrong_to_right}"


# Shown for a model whose data declare prompts with answers (tasks/answers.py).
ANSWER_COLUMNS: list[Cell] = [
    ("exact", _column_cell(Column("exact", "answer_exact_match", ".1%"))),
    ("flips", _flips),
]
# A CUDA row's model lives on the board: its memory there, whole and without the CUDA context (meters/gpu.py).
GPU_COLUMNS: list[Cell] = [
    ("GPU MiB", _column_cell(Column("GPU MiB", "gpu_memory_bytes", ".0f", 1 / 2**20))),
    ("GPU model MiB", _column_cell(Column("GPU model MiB", "gpu_model_memory_bytes", ".0f", 1 / 2**20))),
]


def _gate_cell(gate: Gate) -> Callable[[CaseResult], str]:
    return lambda r: _ratio(r, gate.name, gate.fmt)


def verdict_columns() -> list[Cell]:
    """A column per registered gate that has one (Gate.column), speed first; then the baseline and the outcome."""
    return [
        *((g.column, _gate_cell(g)) for g in in_display_order() if g.column is not None),
        ("baseline", _baseline),
        ("outcome", lambda r: r.outcome),
    ]


TABLE_WIDTH = 120  # what a terminal shows without wrapping


def _variant(record: CaseResult) -> str:
    """The row label under a model's heading: what differs between its rows."""
    return f"{record.case.variant} {record.case.backend} {record.case.device}"


def _render(records: list[CaseResult], columns: list[Cell]) -> list[str]:
    rows = [["variant"] + [header for header, _ in columns]]
    rows += [[_variant(r)] + [cell(r) for _, cell in columns] for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return lines


def _fitted(records: list[CaseResult], columns: list[Cell]) -> list[str]:
    """The figures and the verdict marks in one table, or in two stacked ones when one is wider than the terminal."""
    verdicts = verdict_columns()
    together = _render(records, columns + verdicts)
    if max(len(line) for line in together) <= TABLE_WIDTH:
        return together
    return [*_render(records, columns), "", *_render(records, verdicts)]


def table(records: Iterable[CaseResult]) -> list[str]:
    """Per model kind and model, a table with that kind's own columns (every backend's rows side by side), then the verdicts."""
    shown = [r for r in records if r.outcome != "skipped"]
    lines: list[str] = []
    for kind_name, kind in kinds.KINDS.items():
        columns: list[Cell] = [(c.header, _column_cell(c)) for c in kind.columns] + [("bits/w", _bits_per_weight)]
        for model in dict.fromkeys(r.case.model for r in shown if r.case.kind == kind_name):
            group = [r for r in shown if r.case.kind == kind_name and r.case.model == model]
            answered = any(_reading(r, "answer_exact_match") for r in group)
            on_gpu = any(_reading(r, "gpu_memory_bytes") for r in group)
            shown_columns = columns + (GPU_COLUMNS if on_gpu else []) + (ANSWER_COLUMNS if answered else [])
            lines += ([""] if lines else []) + [f"{model} ({kind_name})"] + _fitted(group, shown_columns)
    made = made_by_lines(shown)
    if made:  # variants of one format by different tools (INT4 by Olive vs INT4 by the GenAI builder)
        lines += ["", "made by:", *made]
    evidence = verdict_lines(shown)
    if evidence:
        lines += ["", "verdicts (estimate [95% interval] (threshold, evidence): outcome):", *evidence]
    return lines


def verdict_lines(records: Iterable[CaseResult]) -> list[str]:
    """Every gate, limit and failed baseline verdict, one line each, with its confirmation."""
    lines = []
    for record in records:
        for v in record.verdicts:
            if v.check in ("baseline", "ratio") and v.status == "pass":
                continue
            if v.check == "baseline" and v.status == "unavailable" and v.name in (NO_BASELINE, "baseline"):
                continue
            suffix = f" [{v.confirmation}]" if v.confirmation and v.confirmation != "not confirmed" else ""
            lines.append(f"  {mark(v):12} {record.case.id}: {v.message}{suffix}")
    return lines


def recommendation_lines(run: RunResult) -> list[str]:
    """The report's "Recommended configuration", one line per model and device, in the report's own words.

    Why in the terminal: a target's lines name "the recommended" variant, and a reader of the terminal alone
    never saw which one that was.
    """
    sentences = [r.sentence for r in recommend(run)]
    return ["Recommended configuration:", *(f"  {s}" for s in sentences)] if sentences else []


def policy_lines(records: Iterable[CaseResult]) -> list[str]:
    """Declared known breaches that passed: the suite's policy to update (pytest shows them as XPASS)."""
    return [
        f"policy to update: {r.case.suite}: {v.name} is declared a known breach for {r.case.variant} but passed "
        f"({v.message.split(':')[0]}) on {r.case.device}; remove its entry ({r.case.variant!r} or "
        f"'{r.case.variant}@{r.case.device.partition(':')[0]}') from known_breaches"
        for r in records
        for v in r.verdicts
        if v.unexpected_pass
    ]


def flag_lines(records: Iterable[CaseResult]) -> list[str]:
    """One line per bottleneck flag raised (cpu_bound, memory_bound, inconsistent): its rule, then each case's figure."""
    raised: dict[str, list[str]] = {}
    actions: dict[str, dict[str, str]] = {}
    for r in records:
        for flag in r.measurement.info.flags if r.measurement else ():
            raised.setdefault(flag.name, []).append(f"{r.case.id} {flag.value or flag.figure}")
            if flag.actions:
                actions.setdefault(flag.name, {})[r.case.backend] = flag.actions
    lines = []
    for name, cases in raised.items():
        rule = RULES.get(name) or RUN_RULES.get(name, name)
        lines.append(f"flag {name} ({rule}) on {len(cases)} case(s): " + ", ".join(cases))
        if name in CAUSES:
            lines.append(f"  likely: {CAUSES[name]}")
        lines += [f"  try ({backend}): {text}" for backend, text in sorted(actions.get(name, {}).items())]
    return lines


def bandwidth_line(bandwidth: Bandwidth | None) -> list[str]:
    """The read bandwidth the MBU column is held against, with its source (which says when a pass ran beside
    other work and may read low, making MBU read high), or why there is none."""
    if bandwidth is None:
        return []
    if bandwidth.bytes_per_s is None:
        return [f"machine: read bandwidth for MBU unavailable: {bandwidth.unavailable_reason}"]
    return [f"machine: read bandwidth for MBU {bandwidth.bytes_per_s / 1e9:.1f} GB/s ({bandwidth.source})"]


STRADDLES = "the interval straddles the threshold after the pair budget"


def _why_inconclusive(v: Verdict) -> str:
    """Why a gate verdict is inconclusive, as the rule that made it so: a straddling interval is only one of four."""
    if v.confirmation == "not confirmed":
        return "a failure its confirming re-run did not repeat"
    if v.rule.endswith("; across runs"):
        return "this machine's last runs read the ratio on both sides of its line"
    if "; throttled: " in v.message:
        return "a failure measured on a throttled machine"
    return STRADDLES


def undecided_lines(records: Iterable[CaseResult]) -> list[str]:
    """The run's undecided verdicts under the table, each kind with its own reason.

    Gates that are inconclusive are counted per reason (mostly STRADDLES); a baseline or ratio move that is not
    decided is named with the judge's reason (outside load, unknown spread between runs). One count with the
    straddling reason for both put "the interval straddles the threshold" on verdicts that have no interval
    against a threshold at all.
    """
    gates: dict[str, list[str]] = {}
    moves: list[str] = []
    for r in records:
        for v in r.verdicts:
            if v.status != "inconclusive":
                continue
            if v.check in ("baseline", "ratio"):
                why = v.reason or ("a regression its confirming re-run did not repeat" if v.confirmation else v.message)
                moves.append(f"  {r.case.id} {v.check} {v.name}: {why}")
            else:
                gates.setdefault(_why_inconclusive(v), []).append(r.case.id)
    lines = [
        f"{len(ids)} {INCONCLUSIVE} verdict(s) ({why}): {', '.join(dict.fromkeys(ids))}" for why, ids in gates.items()
    ]
    if moves:
        lines += [f"{len(moves)} move(s) against the baseline {NOT_DECIDED}:", *moves]
    return lines


def machine_lines(
    noise: str | None, loads: Iterable[tuple[str, float | None, float]], threads: int | None = None
) -> list[str]:
    """What the machine added to the run, printed beside the figures: the noise read before the first case and
    the outside CPU load during each case.

    `noise`: Noise.describe() (+ its steal warning), None where it was not read. `loads`: (case id, the share of
    the machine's CPUs busy with other work during the case's timed region or None, its max_outside_load).
    `threads`: the runtimes' threads this run; fewer threads are advised only where that would change something
    (more than one, or None where not known), not to a run that already sets threads = 1.
    Why in the terminal: a newcomer reads the table, not the report; figures measured beside other work read
    slow, and with threads on every core a neighbour on one core costs llama.cpp decode several times over.
    """
    lines = [f"machine: noise before the run: {noise}"] if noise else []
    measured = [(case, load, limit) for case, load, limit in loads if load is not None]
    if not measured:
        return lines
    shares = sorted(load for _, load, _ in measured)
    busiest = max(measured, key=lambda m: m[1])
    line = (
        f"machine: other work during the cases' timed regions: median {shares[len(shares) // 2]:.0%}, "
        f"max {busiest[1]:.0%} ({busiest[0]})"
    )
    over = [f"{case} {load:.0%}" for case, load, limit in measured if load > limit]
    if over:
        line += (
            f"; {len(over)} case(s) over max_outside_load ({', '.join(over[:3])}{', ...' if len(over) > 3 else ''}): "
            "their speed figures may read slow and their speed moves against a baseline are not decided; re-run on a "
            "quiet machine"
        )
        if threads is None or threads > 1:
            had = "cores" if threads is None else f"the {threads} they had"
            line += f", or beside other work give the runtimes fewer threads than {had} (--bench-set threads=1)"
    return [*lines, line]
