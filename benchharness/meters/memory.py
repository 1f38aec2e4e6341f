"""Peak resident memory of the current (child) process, as the kernel counts it."""

from __future__ import annotations

import resource
import sys

from benchharness.readings import Reading


def peak_rss() -> Reading:
    """High-water mark of resident memory since the process started (file-backed model pages included).

    llama.cpp maps the model file; the pages it touches count as resident, so the peak reflects the
    weights the case really used, plus the interpreter and the runtime.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    return Reading(
        "peak_rss_bytes",
        "B",
        float(usage * scale),
        source="getrusage(RUSAGE_SELF).ru_maxrss of the case's child process",
    )
