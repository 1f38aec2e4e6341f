"""The table pytest prints at the end: one row per case, key figures, ratios and verdicts."""

from __future__ import annotations

from collections.abc import Iterable

from benchharness.baselines import NO_BASELINE
from benchharness.readings import Reading
from benchharness.results import CaseRecord


def _reading(record: CaseRecord, metric: str) -> Reading | None:
    return None if record.measurement is None else record.measurement.readings.get(metric)


def _value(record: CaseRecord, metric: str, fmt: str, scale: float = 1.0) -> str:
    reading = _reading(record, metric)
    if reading is None:
        return "-"
    if not reading.available:
        return "n/a"
    assert reading.value is not None
    return format(reading.value * scale, fmt)


def _with_cv(record: CaseRecord, metric: str) -> str:
    reading = _reading(record, metric)
    if reading is None or reading.value is None:
        return "-"
    return f"{reading.value:.1f}±{reading.cv:.0%}"


def _ratio(record: CaseRecord, name: str, fmt: str) -> str:
    value = record.ratios.get(name)
    if value is None:
        return "ref" if record.case.is_reference and record.measurement else "-"
    mark = ""
    for verdict in record.verdicts:
        if verdict.kind == "gate" and verdict.name == name:
            breach = {None: " FAIL", "known breach": " KNOWN", "borderline": " BORDER"}[verdict.expected]
            mark = {"pass": " ok", "breach": breach, "unavailable": " ?"}[verdict.status]
    return format(value, fmt) + mark


def _baseline(record: CaseRecord) -> str:
    verdicts = [v for v in record.verdicts if v.kind == "baseline"]
    if not verdicts:
        return "-"
    breaches = [v.name for v in verdicts if v.status == "breach"]
    if breaches:
        return "REGRESSED " + ",".join(breaches)
    if all(v.status == "unavailable" for v in verdicts):
        return "none" if verdicts[0].name == NO_BASELINE else "not compared"
    return "ok"


COLUMNS = (
    "case",
    "decode tok/s",
    "prefill tok/s",
    "TTFT ms",
    "p90 ms",
    "peak MiB",
    "top-1",
    "ppl",
    "KL",
    "speedup",
    "acc kept",
    "mem cut",
    "baseline",
    "outcome",
)


def table(records: Iterable[CaseRecord]) -> list[str]:
    rows = [list(COLUMNS)]
    for r in records:
        if r.outcome == "skipped":
            continue
        rows.append(
            [
                r.case.id,
                _with_cv(r, "decode_tok_per_s"),
                _with_cv(r, "prefill_tok_per_s"),
                _value(r, "ttft_ms", ".1f"),
                _value(r, "decode_latency_p90_ms", ".2f"),
                _value(r, "peak_rss_bytes", ".0f", 1 / 2**20),
                _value(r, "top1_accuracy", ".2%"),
                _value(r, "perplexity", ".2f"),
                _value(r, "mean_kl_vs_reference", ".4f"),
                _ratio(r, "speedup", ".2f"),
                _ratio(r, "accuracy_retained", ".1%"),
                _ratio(r, "memory_reduction", ".0%"),
                _baseline(r),
                r.outcome,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return lines
