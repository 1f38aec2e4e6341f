"""Drop a model's files from the kernel's page cache right before a child loads it: every load starts cold.

Why: a runtime that memory-maps its weights (llama.cpp by default, OpenVINO's IR `.bin`) computes on the
page cache's own pages, and how those pages sit in memory (large folios or 4 KiB pages, so how many TLB
misses a token costs) depends on how the file was last written or read, not on its bytes. Measured on a
Linux 6.18 VM (benchmarks/results/aa_paired_page_cache.md): a byte-identical copy of SmolLM2's Q8_0 GGUF
decoded 1.17x faster than the original it was copied from, in solo children and in paired ones whichever
side it took; once the original's pages were dropped, the original read as fast as the copy. A
paired gate would call that file history a speedup. Dropped before each load, every variant starts
from the state a fresh boot gives it, whatever wrote or read it before.

What it costs: the load reads the files from disk (the row's `load_ms` is a cold load, as after a
reboot). What it cannot do: pages that another live process maps stay (the kernel keeps them), and
`posix_fadvise` does not exist on macOS or Windows; the child's record says which happened.
"""

from __future__ import annotations

import os
from pathlib import Path

FADVISE = "posix_fadvise(POSIX_FADV_DONTNEED) on each file after fsync"


def model_files(path: Path) -> list[Path]:
    """The files of a model: `path` itself, or every file under a model folder (sorted).

    Also what prepare checks a variant's manifest against: anything written into it later is one more file.
    """
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file())


def drop_cached_pages(path: Path) -> str:
    """Ask the kernel to forget the cached pages of every file of the model at `path`.

    Returns one line for the row's runtime settings: what was dropped (files, MiB), or why nothing was
    (no `posix_fadvise` on this OS). A file that cannot be opened is left alone and named: the load
    that follows reports the real problem with the file, this step never fails a case.
    """
    if not hasattr(os, "posix_fadvise"):
        return f"not dropped: this OS has no posix_fadvise ({os.name}); the load reads what the cache holds"
    dropped = 0
    size = 0
    skipped: list[str] = []
    for file in model_files(path):
        try:
            fd = os.open(file, os.O_RDONLY)
        except OSError as e:
            skipped.append(f"{file.name} ({e.strerror})")
            continue
        try:
            os.fsync(fd)  # dirty pages are not dropped: write them back first (a file just made by prepare)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            dropped += 1
            size += os.fstat(fd).st_size
        except OSError as e:
            skipped.append(f"{file.name} ({e.strerror})")
        finally:
            os.close(fd)
    line = f"dropped before load: {dropped} file(s), {size / 2**20:.1f} MiB ({FADVISE}); a cold load, as after a reboot"
    return line + (f"; left as cached: {', '.join(skipped)}" if skipped else "")
