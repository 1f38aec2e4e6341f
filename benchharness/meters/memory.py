"""Resident memory of the case's child process: the kernel's high-water mark, and what the model itself holds."""

from __future__ import annotations

import resource
import sys
import threading
from pathlib import Path

import psutil

from benchharness.child_info import MemoryFacts, RegionFacts
from benchharness.meters.base import MeterCase, Metered
from benchharness.readings import Reading

STATUS = Path("/proc/self/status")


def _vm_hwm_bytes(status: Path = STATUS) -> int | None:
    """VmHWM: the high-water mark of this process's own address space (Linux), or None elsewhere."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def resident_split(status: Path = STATUS) -> list[Reading]:
    """Resident memory now, split into anonymous and file-backed pages (RssAnon, RssFile + RssShmem; Linux).

    A model memory-mapped from its file (llama.cpp's default) is resident as file-backed pages the kernel
    can drop and read again; a runtime that repacks or copies weights (llama.cpp's Q4_0 repacking, ONNX
    Runtime's prepacking) holds anonymous memory that cannot be dropped. One RSS figure adds the two, so a
    smaller file can read larger in memory; these say which part is which.
    """
    names = {"RssAnon:": "rss_anon_bytes", "RssFile:": "rss_file_bytes", "RssShmem:": "rss_file_bytes"}
    values: dict[str, float] = {}
    try:
        for line in status.read_text().splitlines():
            field, *rest = line.split()
            if field in names and rest:
                values[names[field]] = values.get(names[field], 0.0) + int(rest[0]) * 1024
    except (OSError, ValueError):
        values = {}
    source = "RssAnon / RssFile + RssShmem of the case's child (/proc/self/status) at the end of the timed region"
    if len(values) < 2:
        why = "no per-type resident counts on this OS (/proc/self/status RssAnon, RssFile)"
        return [Reading.unavailable(n, "B", why) for n in ("rss_anon_bytes", "rss_file_bytes")]
    return [Reading(n, "B", values[n], source=source) for n in ("rss_anon_bytes", "rss_file_bytes")]


def peak_rss() -> Reading:
    """High-water mark of resident memory since the child started (file-backed model pages included).

    On Linux this is VmHWM, not getrusage's ru_maxrss: ru_maxrss of a freshly exec'd child starts at
    the parent's RSS at fork time (the kernel carries the old address space's mark into the new one),
    so a large pytest parent made every variant read as large as the parent. macOS has no /proc, and
    its ru_maxrss (bytes) is the process's own.
    """
    hwm = _vm_hwm_bytes()
    if hwm is not None:
        return Reading(
            "peak_rss_bytes", "B", float(hwm), source="VmHWM (/proc/self/status) of the case's child process"
        )
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    return Reading(
        "peak_rss_bytes",
        "B",
        float(usage * scale),
        source="getrusage(RUSAGE_SELF).ru_maxrss of the case's child process",
    )


def current_rss() -> float:
    """Resident memory of this process and any processes it started (psutil)."""
    me = psutil.Process()
    return float(me.memory_info().rss) + _rss_of(_children(me))


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


def _rss_of(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # it ended between the listing and the reading
            continue
    return total


class RssSampler:
    """Resident memory of this process tree, sampled by a side thread every `interval_s` over a measured region.

    VmHWM is a lifetime high-water mark: it includes loading and whatever Python and the runtime hold.
    The samples say what the region itself held, so the model's own cost is the region's peak minus the
    RSS before the model was loaded (the runtime already imported): `model_memory_bytes`, what the memory
    gate compares by default. optimum-benchmark samples the same way (psutil, ~10 ms).
    """

    def __init__(self, rss_before_load: float | None, interval_s: float = 0.01) -> None:
        self.rss_before_load = rss_before_load
        self.interval_s = interval_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        me = psutil.Process()
        children: list[psutil.Process] = []
        tick = 0
        while not self._stop.is_set():
            if tick % 10 == 0:  # listing children scans /proc: every 10th sample, their RSS every sample
                children = _children(me)
            self.samples.append(float(me.memory_info().rss) + _rss_of(children))
            tick += 1
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        self.samples = [current_rss()]
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> list[Reading]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.samples.append(current_rss())
        peak = max(self.samples)
        source = (
            f"peak of {len(self.samples)} RSS samples of the case's process tree every "
            f"{self.interval_s * 1000:.0f} ms in the timed region (psutil)"
        )
        if self.rss_before_load is None:
            model = Reading.unavailable("model_memory_bytes", "B", "the RSS before load was not read")
        else:
            model = Reading(
                "model_memory_bytes",
                "B",
                max(peak - self.rss_before_load, 0.0),
                source=source + ", minus the RSS before the model was loaded (runtime already imported)",
            )
        return [Reading("region_peak_rss_bytes", "B", peak, source=source), model, *resident_split()]


class MemoryMeter:
    """Resident memory sampled over the region, and the model's own memory (see RssSampler)."""

    def __init__(self, case: MeterCase) -> None:
        self.sampler = RssSampler(case.rss_before_load)

    @classmethod
    def reads(cls, case: MeterCase) -> tuple[tuple[str, str], ...]:
        names = ("region_peak_rss_bytes", "model_memory_bytes", "rss_anon_bytes", "rss_file_bytes")
        return tuple((name, "B") for name in names)

    def start(self) -> None:
        self.sampler.start()

    def stop(self) -> Metered:
        return Metered(self.sampler.stop(), RegionFacts(memory=MemoryFacts(self.sampler.rss_before_load)))
