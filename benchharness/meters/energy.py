"""Energy from hardware counters: RAPL through Linux powercap (what pyRAPL reads) and NVIDIA's NVML.

Every source has one shape, `EnergyCounter`, read around each timed round (start / stop -> joules), so energy
has a spread like every other figure; `Energy.for_device` picks the case's source, or says why there is none.
A counter that is absent or unreadable gives an 'unavailable' reading with the reason; the harness never
estimates energy from time and a nominal power unless asked (CpuTdpEstimate, labelled and kept apart).
The region's energy meter (meters/resources.EnergyMeter) turns the rounds' joules into Readings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import psutil

from benchharness.gpus import split_device

POWERCAP = Path("/sys/class/powercap")


@runtime_checkable
class EnergyCounter(Protocol):
    """The one shape of an energy source (RAPL, NVML, the asked-for estimate), read around each timed run.

    `taken` holds the joules of every start()/stop() pair so far, in order: the case's energy meter
    (meters/resources.EnergyMeter) reads the runs of its timed region from it.
    """

    source: str
    taken: list[float]

    def start(self) -> None: ...

    def stop(self) -> float:
        """Joules since start(), also appended to `taken`."""
        ...

    def unusable_reason(self, joules: list[float]) -> str | None:
        """Why these readings cannot be trusted (a counter that never moved), or None."""
        ...


def _stuck(joules: list[float], source: str) -> str | None:
    if joules and all(j == 0 for j in joules):
        return f"{source} did not move during {len(joules)} timed runs (a stuck or unsupported counter)"
    return None


@dataclass(frozen=True)
class RaplZone:
    name: str
    energy_file: Path
    max_range_uj: int


def rapl_zones(root: Path = POWERCAP) -> tuple[list[RaplZone], str | None]:
    """The package-level RAPL zones and their DRAM sub-zones, or a reason why none can be read.

    Core and uncore sub-zones are already inside their package's figure; DRAM is not, so it is added.
    """
    if not root.is_dir():
        return [], f"no RAPL counters: {root} is absent (virtual machine or non-Linux host)"
    zones: list[RaplZone] = []
    for zone in sorted(root.glob("intel-rapl:[0-9]*")):
        try:
            name = (zone / "name").read_text().strip()
            if zone.name.count(":") != 1 and name != "dram":
                continue
            max_range = int((zone / "max_energy_range_uj").read_text())
            int((zone / "energy_uj").read_text())
        except PermissionError:
            return [], (
                f"RAPL counter {zone}/energy_uj is readable only by root (since Linux 5.10); run as root or "
                f"grant read access: sudo chmod o+r {root}/intel-rapl:*/energy_uj"
            )
        except (OSError, ValueError) as e:
            return [], f"RAPL counter {zone}/energy_uj is not readable ({e})"
        zones.append(RaplZone(f"{zone.name}:{name}", zone / "energy_uj", max_range))
    if not zones:
        return [], f"no RAPL package zones under {root} (this CPU or VM exposes no energy counters)"
    return zones, None


# The name the rest of the code and the tests knew it by.
rapl_package_zones = rapl_zones


class RaplMeter:
    """Energy between start() and stop(), summed over CPU packages (and DRAM), with counter wrap-around handled."""

    def __init__(self, zones: list[RaplZone]) -> None:
        self.zones = zones
        self._start: list[int] = []
        self.taken: list[float] = []
        self.source = "RAPL " + ", ".join(z.name for z in zones) + " (whole package, all processes)"

    def _read(self) -> list[int]:
        return [int(z.energy_file.read_text()) for z in self.zones]

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> float:
        total_uj = 0
        for zone, before, after in zip(self.zones, self._start, self._read(), strict=True):
            total_uj += after - before if after >= before else after + zone.max_range_uj - before
        self.taken.append(total_uj / 1e6)
        return self.taken[-1]

    def unusable_reason(self, joules: list[float]) -> str | None:
        return _stuck(joules, self.source)


class NvmlMeter:
    """An NVIDIA board's total energy counter (NVML, millijoules since the driver loaded).

    The board's idle draw is measured before the case (power readings over `idle_s`) and named in the
    source, so a reader can tell gross energy (what the counter says) from what the work added.
    """

    def __init__(
        self,
        read_mj: Callable[[], int],
        read_mw: Callable[[], int],
        name: str,
        idle_s: float = 1.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._read_mj = read_mj
        self._start = 0
        self.taken: list[float] = []
        powers = []
        deadline = clock() + idle_s
        while True:
            powers.append(read_mw())
            if clock() >= deadline:
                break
            time.sleep(0.05)
        self.idle_w = sum(powers) / len(powers) / 1000
        self.source = f"NVML total energy of {name} (whole board, gross; idle draw {self.idle_w:.1f} W before the case)"

    def start(self) -> None:
        self._start = self._read_mj()

    def stop(self) -> float:
        self.taken.append((self._read_mj() - self._start) / 1000)
        return self.taken[-1]

    def unusable_reason(self, joules: list[float]) -> str | None:
        return _stuck(joules, self.source)


def nvml_meter(index: int = 0, nvml: Any = None) -> tuple[NvmlMeter | None, str | None]:
    """The NVML meter of GPU `index`, or why there is none (no library, no driver, no permission, no counter)."""
    if nvml is None:
        try:
            import pynvml  # nvidia-ml-py
        except ImportError:
            return None, "no NVML: nvidia-ml-py is not installed (pip install nvidia-ml-py)"
        nvml = pynvml
    try:
        nvml.nvmlInit()
    except Exception as e:  # NVMLError subclasses: library not found, driver not loaded, ...
        return None, f"no NVML: {e} (no NVIDIA driver loaded on this machine)"
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        name = nvml.nvmlDeviceGetName(handle)
        name = name.decode() if isinstance(name, bytes) else str(name)
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        meter = NvmlMeter(
            lambda: int(nvml.nvmlDeviceGetTotalEnergyConsumption(handle)),
            lambda: int(nvml.nvmlDeviceGetPowerUsage(handle)),
            f"GPU {index} ({name})",
        )
    except Exception as e:
        text = str(e)
        if "Insufficient Permissions" in text or "No permission" in text:
            return None, f"NVML energy counter of GPU {index}: {text}; run with access to the GPU's counters"
        return None, f"NVML energy counter of GPU {index} is not available ({text}; needs Volta or newer)"
    return meter, None


class CpuTdpEstimate:
    """An estimate, only when asked for (`[energy] estimate_cpu_tdp_w`): TDP x the process's share of the CPU.

    codecarbon's fallback: no counter is read, so the figure is labelled estimated, goes into its own
    `estimated_*` readings and is never gated or compared with a baseline.
    """

    def __init__(self, tdp_w: float) -> None:
        self.tdp_w = tdp_w
        self.cores = psutil.cpu_count() or 1
        self._cpu_s = 0.0
        self.taken: list[float] = []
        self.source = f"ESTIMATED, not measured: TDP {tdp_w:g} W x the case's CPU seconds / {self.cores} cores (codecarbon's fallback)"

    def _read(self) -> float:
        times = psutil.Process().cpu_times()
        return float(times.user + times.system)

    def start(self) -> None:
        self._cpu_s = self._read()

    def stop(self) -> float:
        self.taken.append(self.tdp_w * (self._read() - self._cpu_s) / self.cores)
        return self.taken[-1]

    def unusable_reason(self, joules: list[float]) -> str | None:
        return None


def energy_meter(device: str) -> tuple[EnergyCounter | None, str | None]:
    """The meter for `device` (a type, or `cuda:N`), or why energy cannot be measured for it here."""
    device_type, index = split_device(device)
    if device_type == "cuda":
        return nvml_meter(index)
    if device == "metal":
        return None, ("no energy meter on Apple silicon without root: powermetrics needs sudo; not read by the harness")
    if device != "cpu":
        return None, f"no energy counter for device {device!r} (RAPL covers the CPU, NVML NVIDIA GPUs)"
    zones, reason = rapl_zones()
    return (RaplMeter(zones), None) if zones else (None, reason)


@dataclass(frozen=True)
class Energy:
    """The case's energy source: its device's counter, or why there is none (and the estimate, where asked for)."""

    meter: EnergyCounter | None
    reason: str | None
    estimate: CpuTdpEstimate | None = None  # only where there is no counter, and only when asked for

    @classmethod
    def for_device(cls, device: str, estimate_cpu_tdp_w: float | None = None) -> Energy:
        meter, reason = energy_meter(device)
        estimate = (
            CpuTdpEstimate(estimate_cpu_tdp_w) if meter is None and estimate_cpu_tdp_w and device == "cpu" else None
        )
        return cls(meter, reason, estimate)

    @property
    def round_meter(self) -> EnergyCounter | None:
        """What the round loop reads around each round: the counter, else the asked-for estimate."""
        return self.meter or self.estimate
