"""This machine's achievable read bandwidth: the line a decode row's bytes per token are held against.

Measured once per machine id and thread count, in a child process, with torch's multi-threaded
`sum` over a float32 buffer far larger than the last-level cache (best of a few passes, after one
that pages the buffer in). A read-only reduction is what decode does to weights; STREAM's triad
also writes, and on some cores (write-allocate, no non-temporal stores in the build) it reports
half of what a read-only stream achieves, which would put MBU above 100%. The figure is cached
beside the machine fingerprint in the cache folder and measured again when the fingerprint
changes. A pass taken beside other work (over MAX_OUTSIDE_LOAD of the CPUs busy with other
processes) reads low: it is used for this session, says so in its source, and is not kept, so
the next session measures again. Without torch it is unavailable, with the reason, never guessed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIN_BUFFER_BYTES = 1 << 30  # 1 GiB, or 16 x the last-level cache where that is larger
CACHE_MULTIPLE = 16
PASSES = 5
TIMEOUT_S = 300.0
MAX_OUTSIDE_LOAD = 0.25  # other processes' share of all CPUs' time during the passes, above which none is cached


@dataclass(frozen=True)
class Bandwidth:
    """Read bandwidth at `threads` threads (bytes/s, the best pass), or why there is none."""

    bytes_per_s: float | None
    threads: int
    source: str
    passes_gb_per_s: tuple[float, ...] = ()
    unavailable_reason: str | None = None
    outside_load: float | None = None  # other processes' share of the CPUs during the passes

    @property
    def keepable(self) -> bool:
        """Measured on a quiet enough machine to stand for it in later sessions."""
        return self.bytes_per_s is not None and (self.outside_load or 0.0) <= MAX_OUTSIDE_LOAD

    @property
    def gb_per_s(self) -> float | None:
        return None if self.bytes_per_s is None else self.bytes_per_s / 1e9

    def to_dict(self) -> dict[str, Any]:
        return {
            "bytes_per_s": self.bytes_per_s,
            "threads": self.threads,
            "source": self.source,
            "passes_gb_per_s": list(self.passes_gb_per_s),
            "unavailable_reason": self.unavailable_reason,
            "outside_load": self.outside_load,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bandwidth:
        return cls(
            bytes_per_s=data.get("bytes_per_s"),
            threads=int(data["threads"]),
            source=str(data.get("source", "")),
            passes_gb_per_s=tuple(float(v) for v in data.get("passes_gb_per_s", ())),
            unavailable_reason=data.get("unavailable_reason"),
            outside_load=data.get("outside_load"),
        )


def last_level_cache_bytes() -> int:
    """The largest CPU cache this machine reports (sysfs), 0 where it reports none."""
    largest = 0
    for size_file in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = size_file.read_text().strip().upper()
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            largest = max(largest, int(digits) * scale)
    return largest


def measure(threads: int, passes: int = PASSES) -> Bandwidth:
    """In this process: torch.sum over a buffer far past the last-level cache; the fastest of `passes`."""
    import psutil
    import torch

    from benchharness.meters.noise import _total

    torch.set_num_threads(threads)
    size = max(MIN_BUFFER_BYTES, CACHE_MULTIPLE * last_level_cache_bytes())
    buffer = torch.ones(size // 4, dtype=torch.float32)  # written once: every page resident before timing
    float(buffer.sum())
    rates = []
    own = psutil.Process()
    before, own_before = psutil.cpu_times(), own.cpu_times()
    for _ in range(passes):
        started = time.perf_counter()
        float(buffer.sum())
        rates.append(buffer.numel() * 4 / (time.perf_counter() - started))
    after, own_after = psutil.cpu_times(), own.cpu_times()
    total = _total(after) - _total(before)
    idle = (after.idle + getattr(after, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))
    ours = (own_after.user + own_after.system) - (own_before.user + own_before.system)
    outside = max(total - idle - ours, 0.0) / total if total > 0 else 0.0
    loaded = f"; beside {outside:.0%} outside CPU load: may read low" if outside > MAX_OUTSIDE_LOAD else ""
    return Bandwidth(
        max(rates),
        threads,
        f"torch {torch.__version__} sum over {size / 2**20:.0f} MiB float32 at {threads} threads, "
        f"best of {passes} passes (read-only){loaded}",
        tuple(round(r / 1e9, 2) for r in rates),
        outside_load=round(outside, 3),
    )


def machine_bandwidth(cache_dir: Path, machine: dict[str, Any], threads: int) -> Bandwidth:
    """The cached figure for this machine fingerprint and thread count, measured in a child if absent."""
    path = cache_dir / "bandwidth" / f"{machine['id']}-{threads}t.json"
    try:
        kept = json.loads(path.read_text())
        if kept.get("fingerprint") == machine:
            return Bandwidth.from_dict(kept["bandwidth"])
    except (OSError, ValueError, KeyError):
        pass
    command = [sys.executable, "-m", "benchharness.meters.bandwidth", str(threads)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return Bandwidth(None, threads, "", unavailable_reason=f"the bandwidth pass took over {TIMEOUT_S:.0f} s")
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit {done.returncode}"
        if "No module named 'torch'" in why:
            why = "torch is not installed (pip install torch): it measures the read bandwidth"
        return Bandwidth(None, threads, "", unavailable_reason=why[:300])
    bandwidth = Bandwidth.from_dict(json.loads(done.stdout))
    if bandwidth.keepable:
        path.parent.mkdir(parents=True, exist_ok=True)
        kept_text = json.dumps({"fingerprint": machine, "bandwidth": bandwidth.to_dict()}, indent=2, sort_keys=True)
        path.write_text(kept_text)
    return bandwidth


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1])).to_dict()))
