"""How much of the child's resident memory the kernel mapped in 2 MiB pages, recorded in each reply.

A runtime that computes on memory-mapped weights runs at a speed set by how many of those pages the kernel
mapped as 2 MiB folios, which depends on the machine's memory fragmentation, not the model (SmolLM2 F32 on
llama.cpp's mmap load: 63 vs 87 tok/s between two runs of unchanged code,
benchmarks/results/llamacpp_weights.md). Each child's `info.huge_pages` holds it, so a shift between runs can
be traced to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchharness.typed_json import OMITTED

SMAPS_ROLLUP = Path("/proc/self/smaps_rollup")


@dataclass(frozen=True)
class HugePages:
    """MiB of this process's resident memory by mapping; a line the kernel does not print is left out.

    Each key is written only where its line was read (an older kernel has no FilePmdMapped), so the JSON
    says what was read and nothing more.
    """

    file_pmd_mib: float | None = field(default=None, metadata=OMITTED)  # FilePmdMapped: file pages in 2 MiB
    anon_huge_mib: float | None = field(default=None, metadata=OMITTED)  # AnonHugePages
    rss_mib: float | None = field(default=None, metadata=OMITTED)  # Rss


def huge_page_use(rollup: Path = SMAPS_ROLLUP) -> HugePages | None:
    """From /proc/self/smaps_rollup (FilePmdMapped, AnonHugePages, Rss; Linux), or None where it does not
    exist or holds none of them."""
    fields = {"FilePmdMapped:": "file_pmd_mib", "AnonHugePages:": "anon_huge_mib", "Rss:": "rss_mib"}
    found: dict[str, float] = {}
    try:
        for line in rollup.read_text().splitlines():
            name, *rest = line.split()
            if name in fields and rest:
                found[fields[name]] = int(rest[0]) / 1024
    except (OSError, ValueError):
        return None
    return HugePages(**found) if found else None
