"""Sweep what interrupted runs left in the cache: job folders, session scratch and half-built variants.

Everything a run writes while it works carries its process id in the name (`jobs/<pid>-*`,
`sessions/<time>-<pid>`, `<variant>.partial-<pid>`), so the next run can tell a dead run's leftovers
from a live neighbour's work: it removes only those whose process no longer exists. A Ctrl-C cleans up
at once; this is for `kill -9`, power loss and CI cancellations, which run no cleanup code.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import psutil

JOB_DIR = re.compile(r"^(\d+)-")  # jobs/<pid>-<random>
SESSION_DIR = re.compile(r"-(\d+)$")  # sessions/<time>-<pid>
PARTIAL = re.compile(r"\.partial-(\d+)$")  # <cache>/<format>/<model>/<variant>.partial-<pid>


def _dead(match: re.Match[str] | None) -> bool:
    return match is not None and not psutil.pid_exists(int(match.group(1)))


def _worker_alive(job: Path) -> bool:
    """A job folder's worker (its pid in `worker.pid`) still runs: an orphan outliving its run owns the files.

    A zombie (dead, not yet reaped by whoever inherited it) owns nothing, and a pid reused by another
    program is not the worker: only a live `benchharness.worker` process counts.
    """
    try:
        process = psutil.Process(int((job / "worker.pid").read_text()))
        return process.status() != psutil.STATUS_ZOMBIE and "benchharness.worker" in process.cmdline()
    except (OSError, ValueError, psutil.Error):
        return False


def _size(path: Path) -> int:
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0


def _remove(path: Path) -> int:
    size = _size(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return size


def swept_lines(swept: tuple[int, int]) -> list[str]:
    """The summary's line about what `sweep` removed, if anything."""
    count, freed = swept
    return [f"swept {count} leftover(s) of killed runs from the cache ({freed / 2**20:.0f} MiB)"] if count else []


def sweep(cache_dir: Path) -> tuple[int, int]:
    """Remove leftovers of dead processes under `cache_dir`; returns (how many, bytes freed)."""
    found: list[Path] = []
    for folder, pattern in (("jobs", JOB_DIR), ("sessions", SESSION_DIR)):
        found += [
            p for p in sorted((cache_dir / folder).glob("*")) if _dead(pattern.search(p.name)) and not _worker_alive(p)
        ]
    for depth in ("*/*/*.partial-*", "*/*/*/*.partial-*"):  # a variant file, or a file inside a variant folder
        found += [p for p in sorted(cache_dir.glob(depth)) if _dead(PARTIAL.search(p.name))]
    return len(found), sum(_remove(p) for p in found)
