"""The table pytest prints at the end: one row per case, key figures, ratios and verdicts."""

from __future__ import annotations

from collections.abc import Callable, Iterable

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


Column = tuple[str, Callable[[CaseRecord], str]]

VERDICT_COLUMNS: list[Column] = [
    ("speedup", lambda r: _ratio(r, "speedup", ".2f")),
    ("acc kept", lambda r: _ratio(r, "accuracy_retained", ".1%")),
    ("mem cut", lambda r: _ratio(r, "memory_reduction", ".0%")),
    ("baseline", _baseline),
    ("outcome", lambda r: r.outcome),
]

# Causal LMs of every backend share one table, so their rows read side by side.
GENERATION_COLUMNS: list[Column] = [
    ("decode tok/s", lambda r: _with_cv(r, "decode_tok_per_s")),
    ("prefill tok/s", lambda r: _with_cv(r, "prefill_tok_per_s")),
    ("TTFT ms", lambda r: _value(r, "ttft_ms", ".1f")),
    ("p90 ms", lambda r: _value(r, "decode_latency_p90_ms", ".2f")),
    ("peak MiB", lambda r: _value(r, "peak_rss_bytes", ".0f", 1 / 2**20)),
    ("top-1", lambda r: _value(r, "top1_accuracy", ".2%")),
    ("ppl", lambda r: _value(r, "perplexity", ".2f")),
    ("KL", lambda r: _value(r, "mean_kl_vs_reference", ".4f")),
]

# Encoders and classifiers: one call per batch.
BATCH_COLUMNS: list[Column] = [
    ("b1 ms", lambda r: _value(r, "batch1_latency_ms", ".2f")),
    ("b1 items/s", lambda r: _with_cv(r, "batch1_items_per_s")),
    ("b32 ms", lambda r: _value(r, "batch32_latency_ms", ".1f")),
    ("b32 items/s", lambda r: _with_cv(r, "batch32_items_per_s")),
    ("peak MiB", lambda r: _value(r, "peak_rss_bytes", ".0f", 1 / 2**20)),
    ("accuracy", lambda r: _first_value(r, ("retrieval_top1", "heldout_accuracy"), ".2%")),
    ("fidelity", lambda r: _first_value(r, ("cosine_vs_reference", "same_prediction_vs_reference"), ".4f")),
]


def _first_value(record: CaseRecord, metrics: tuple[str, ...], fmt: str) -> str:
    for metric in metrics:
        if _reading(record, metric) is not None:
            return _value(record, metric, fmt)
    return "-"


def _render(records: list[CaseRecord], columns: list[Column]) -> list[str]:
    rows = [["case"] + [header for header, _ in columns]]
    rows += [[r.case.id] + [cell(r) for _, cell in columns] for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return lines


def _is_generation(record: CaseRecord) -> bool:
    return record.case.kind == "causal-lm"


def table(records: Iterable[CaseRecord]) -> list[str]:
    """The causal-LM table, then (if any) the encoder and classifier table."""
    shown = [r for r in records if r.outcome != "skipped"]
    generation = [r for r in shown if _is_generation(r)]
    batch = [r for r in shown if not _is_generation(r)]
    lines: list[str] = []
    if generation:
        lines += _render(generation, GENERATION_COLUMNS + VERDICT_COLUMNS)
    if batch:
        lines += ([""] if lines else []) + _render(batch, BATCH_COLUMNS + VERDICT_COLUMNS)
    return lines
