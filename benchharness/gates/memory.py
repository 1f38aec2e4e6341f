"""memory_reduction: 1 - variant memory / reference memory, from each side's solo children."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from benchharness.gates.base import SHORT_NAMES, GateEvidence, Reduction
from benchharness.gates.rule import GateRule
from benchharness.gpus import is_cuda


@dataclass(frozen=True)
class MemoryReduction(Reduction):
    """The model's memory cut, by default where the model lives (resident memory, or the board on CUDA)."""

    name = "memory_reduction"
    description = "the share of the reference's memory the variant saves (the model's own, by default)"
    default_minimum = 0.5
    upper_bound = 1.0
    column = "mem cut"
    axis_label = "memory cut"
    display_rank = 2
    # What `figure = ...` may name: the model's own memory where it lives (the default, None: its share of
    # resident memory, or on a CUDA case its GPU memory without the CUDA context), the whole process's resident
    # high-water mark (Python and the runtime included), or the process's whole GPU memory (context included).
    figures: ClassVar[Mapping[str, str | None]] = {
        "model": None,
        "process": "peak_rss_bytes",
        "gpu": "gpu_memory_bytes",
    }

    def judged_figure(self, rule: GateRule, evidence: GateEvidence) -> str:
        """The suite's `figure`, else the model's own memory where it lives.

        On a CUDA case the weights, KV cache and workspace are on the board, so the default is the model's GPU
        memory (NVML: the case's peak without the CUDA context both sides pay alike, meters/gpu.py); on every
        other device it is the model's share of resident memory.
        """
        if rule.metric is not None:
            return rule.metric
        if is_cuda(evidence.device):
            return "gpu_model_memory_bytes"
        return self.figure(evidence.kind)

    def describe(self, metric: str, variant_mean: float, reference_mean: float, e: GateEvidence) -> str:
        name = SHORT_NAMES.get(metric, metric)
        return (
            f"; {name} {variant_mean / 2**20:.0f} MiB vs reference {e.reference_label} {reference_mean / 2**20:.0f} MiB"
            + _resident_split(e)
        )


def _resident_split(e: GateEvidence) -> str:
    """What the judged figure holds: anonymous vs file-backed (mapped, reclaimable) pages of each side."""
    sides = []
    for label, measurements in ((e.label, e.variant), (e.reference_label, e.reference)):
        anon = measurements[0].value("rss_anon_bytes") if measurements else None
        file = measurements[0].value("rss_file_bytes") if measurements else None
        if anon is None or file is None:
            return ""
        sides.append(f"{label} {anon / 2**20:.0f} MiB anonymous + {file / 2**20:.0f} MiB file-backed")
    return f" (resident at the region's end: {'; '.join(sides)}; file-backed pages are mapped weights the kernel can reclaim)"
