"""A runtime path that died of an illegal instruction on this machine, and what the machine advertised.

A VM can list a CPU feature (AMX, AVX-512) in its flags and still trap it; a native build can use a
feature another CPU lacks. Either way the machine's flags alone do not say what runs. When a backend's
fast path dies of SIGILL and its safe mode runs, the run records a FaultedPath in the machine's
fingerprint (`faulted_paths`) and on every row measured in safe mode, so a lab can tell its machines
apart by what actually runs and nobody reads a fallback's figures as the default path's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from benchharness.crashes import Crash

# CPU flag prefixes that a runtime's optional fast paths use beyond the x86-64-v3 baseline (AVX2, FMA, F16C).
OPTIONAL_FEATURES = ("amx", "avx512", "avx_vnni")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """This CPU's advertised flags (x86 `flags`, Arm `Features`); empty where /proc/cpuinfo is absent."""
    try:
        for line in cpuinfo.read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() in ("flags", "Features"):
                return set(value.split())
    except OSError:
        pass
    return set()


def flag_name(feature: str) -> str:
    """llama.cpp's feature name as /proc/cpuinfo spells the flag: AMX_INT8 -> amx_int8, AVX512 -> avx512f."""
    name = feature.lower()
    return "avx512f" if name == "avx512" else name


@dataclass(frozen=True)
class FaultedPath:
    """A backend's default path that died of SIGILL on this machine and the safe mode that replaced it."""

    backend: str
    device: str
    first_case: str  # the case whose child died first
    avoided: str  # what safe mode turns off (the backend's `safe_mode`)
    signal: str
    library: str | None  # where the kernel says the fault was, when its log is readable
    frame: str | None  # the Python frame that called into the runtime
    advertised: tuple[str, ...]  # the CPU's optional-feature flags (AMX, AVX-512, AVX-VNNI) it advertises
    build_features: tuple[str, ...] = ()  # what the runtime build compiled in, as the safe-mode child reported
    suspects: tuple[str, ...] = ()  # advertised, compiled in, and used only where the build can: not usable here

    def with_build(self, features: str) -> FaultedPath:
        """The same fault, once the safe-mode child has said which CPU features its build uses."""
        built = tuple(features.split())
        compiled = {flag_name(f) for f in built}
        amx = tuple(f for f in self.advertised if f.startswith("amx") and f in compiled)
        others = tuple(f for f in self.advertised if f in compiled)
        return replace(self, build_features=built, suspects=amx or others)

    def warning(self) -> str:
        where = f" in {self.library}" if self.library else ""
        suspects = f"; advertised but not usable here: {' '.join(self.suspects)}" if self.suspects else ""
        return (
            f"measured with {self.avoided}: the default path died of {self.signal} (illegal instruction){where} "
            f"on this machine (first in {self.first_case}){suspects}; these figures are the fallback's"
        )


def faulted_path(backend: str, device: str, case_id: str, avoided: str, crash: Crash) -> FaultedPath:
    advertised = tuple(sorted(f for f in cpu_flags() if f.startswith(OPTIONAL_FEATURES)))
    return FaultedPath(backend, device, case_id, avoided, crash.signal, crash.library, crash.frame, advertised)
