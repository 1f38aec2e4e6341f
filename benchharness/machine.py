"""Who measured: a machine fingerprint, package versions and the git commit, stored with every figure."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import psutil

from benchharness.cpu_quota import quota_cpus
from benchharness.gpus import gpus_here
from benchharness.packages import installed

PACKAGES = ("benchharness", "llama-cpp-python", "numpy", "pytest", "pytest-benchmark", "onnxruntime", "openvino", "mlx")


# ISA features that change kernel choice (and so figures) by up to several times.
ISA_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "asimd",
    "asimddp",
    "sve",
    "sve2",
    "i8mm",
    "bf16",
)
MACHINE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields from /proc/cpuinfo (empty elsewhere)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def _gpus() -> list[str]:
    """NVIDIA GPUs: model, memory and compute capability from NVML, else model names from the driver's files.

    Memory is named because one model name can ship with different memory (and so different KV room).
    """
    gpus, _ = gpus_here()
    if gpus:
        return [gpu.describe() for gpu in gpus]
    names = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        try:
            for line in info.read_text().splitlines():
                if line.startswith("Model:"):
                    names.append(line.split(":", 1)[1].strip())
        except OSError:
            continue
    return names


def _nvidia_driver() -> str | None:
    gpus, _ = gpus_here()
    if gpus:
        return gpus[0].driver_version
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
    except OSError:
        return None
    match = re.search(r"Kernel Module\s+([0-9.]+)", text)
    return match.group(1) if match else None


def machine_id_from_env() -> str | None:
    """BENCHHARNESS_MACHINE, validated: it becomes a file name, so no paths and no odd characters."""
    from benchharness.errors import ConfigError

    value = os.environ.get("BENCHHARNESS_MACHINE")
    if value is None:
        return None
    if not MACHINE_ID.match(value) or ".." in value:
        raise ConfigError(
            f"BENCHHARNESS_MACHINE={value!r} is not a valid machine id; use letters, digits, '.', '_' and '-' "
            "(at most 128, no '..'), e.g. lab-x86-01"
        )
    return value


@cache
def fingerprint() -> dict[str, Any]:
    """What makes figures comparable: CPU model, family/model/stepping and ISA level, cores, memory, GPUs, OS.

    Clock readings are left out (they change run to run). `BENCHHARNESS_MACHINE` names the machine
    explicitly (a lab's host name); otherwise the id is derived from the hardware, with a short hash
    of the ISA flags and accelerators, so an AVX2-only host and an AVX-512 VNNI host with the same
    model name never share a baseline, while identical CI runners do.
    """
    cpuinfo = _cpuinfo()
    flags = set(cpuinfo.get("flags", cpuinfo.get("Features", "")).split())
    memory_gib = round(psutil.virtual_memory().total / 2**30)
    info: dict[str, Any] = {
        "cpu": cpuinfo.get("model name") or platform.processor() or platform.machine(),
        "cpu_family": cpuinfo.get("cpu family") or cpuinfo.get("CPU architecture"),
        "cpu_model_number": cpuinfo.get("model") or cpuinfo.get("CPU part"),
        "cpu_stepping": cpuinfo.get("stepping") or cpuinfo.get("CPU variant"),
        "isa": sorted(f for f in ISA_FLAGS if f in flags),
        "logical_cores": os.cpu_count() or 0,
        "physical_cores": psutil.cpu_count(logical=False) or 0,
        "usable_cpus": usable_cpus(),
        "memory_gib": memory_gib,
        "gpus": _gpus(),
        "nvidia_driver": _nvidia_driver(),
        "system": platform.system(),
        "arch": platform.machine(),
        "python": platform.python_version(),
    }
    # A process limited to fewer CPUs than the host has (taskset, a container's quota) is another machine for
    # its figures; an unlimited one keeps the id it had before usable CPUs were recorded.
    limited = info["usable_cpus"] < info["logical_cores"]
    keys = [k for k in COMPARABLE_KEYS if limited or k != "usable_cpus"]
    distinct = json.dumps([info[k] for k in keys], sort_keys=True)
    digest = hashlib.sha256(distinct.encode()).hexdigest()[:8]
    cores = f"{info['usable_cpus']}of{info['logical_cores']}c" if limited else f"{info['logical_cores']}c"
    derived = f"{info['system']}-{info['arch']}-{info['cpu']}-{cores}-{memory_gib}g-{digest}"
    info["id"] = machine_id_from_env() or re.sub(r"[^a-z0-9]+", "-", derived.lower()).strip("-")
    return info


COMPARABLE_KEYS = (
    "cpu",
    "cpu_family",
    "cpu_model_number",
    "cpu_stepping",
    "isa",
    "logical_cores",
    "usable_cpus",
    "memory_gib",
    "gpus",
    "nvidia_driver",
    "system",
    "arch",
)


def comparable(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Fields that differ between two fingerprints in ways that change performance.

    A fingerprint stored before usable CPUs were recorded was taken without a limit: all its logical cores.
    """
    a, b = _with_usable(a), _with_usable(b)
    return [f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in COMPARABLE_KEYS if a.get(k) != b.get(k)]


CLASS_KEYS = ("arch", "cpu", "cpu_family", "cpu_model_number", "isa", "gpus")


def machine_class(info: Mapping[str, Any]) -> str:
    """Which machines one software change moves alike: same CPU model and ISA flags (so the same kernels), same GPUs.

    Cores, memory and the OS are left out: two hosts of one CPU model with more or less memory take the
    same code paths, so a change in a kernel or a build shows on both. The label reads as the CPU's
    name and its widest vector ISA, with a short hash of the class's fields to keep look-alikes apart.
    """
    distinct = json.dumps([info.get(k) for k in CLASS_KEYS], sort_keys=True)
    digest = hashlib.sha256(distinct.encode()).hexdigest()[:6]
    isa = set(info.get("isa") or ())
    widest = next((f for f in ("avx512_vnni", "avx512f", "avx_vnni", "avx2", "avx") if f in isa), info.get("arch"))
    gpus = f" + {', '.join(info['gpus'])}" if info.get("gpus") else ""
    return f"{info.get('cpu') or 'unknown CPU'} {widest}{gpus} #{digest}"


def _with_usable(info: dict[str, Any]) -> dict[str, Any]:
    return info if "usable_cpus" in info else {**info, "usable_cpus": info.get("logical_cores")}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        if found := installed(name):
            versions[found[0]] = found[1]  # "onnxruntime-gpu": the distribution that is installed
    return versions


NOT_A_REPOSITORY = "the project folder is not a git repository"
NO_COMMITS = "the git repository has no commits yet"


@dataclass(frozen=True)
class GitCommit:
    """The project's commit, or why there is none, so a run's label says why instead of a commit named `HEAD`."""

    id: str | None
    why_none: str = ""


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False)


def git_commit(root: Path) -> GitCommit:
    """HEAD's commit id in `root`, or why there is none.

    `git rev-parse HEAD` in a repository with no commits yet prints "HEAD" itself (with an error on stderr), and that
    was stored as the commit: both sides of a compare read `@ HEAD`. `--verify --quiet` prints nothing there, and
    the work-tree test tells "no commits yet" from "not a repository".
    """
    try:
        head = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        if head.returncode == 0 and head.stdout.strip():
            return GitCommit(head.stdout.strip())
        inside = _git(root, "rev-parse", "--is-inside-work-tree")
    except OSError as e:
        return GitCommit(None, f"git could not be run ({e.strerror or e})")
    except subprocess.TimeoutExpired:
        return GitCommit(None, "git did not answer within 10 s")
    return GitCommit(None, NO_COMMITS if inside.stdout.strip() == "true" else NOT_A_REPOSITORY)


def usable_cpus() -> int:
    """CPUs this process may use: its affinity mask (taskset's, a cpuset's) and its cgroup's CPU quota
    (a container's `--cpus`), the smaller; not the host's count."""
    try:
        affinity = len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no affinity call (macOS, Windows)
        affinity = os.cpu_count() or 1
    quota = quota_cpus()
    return affinity if quota is None else min(affinity, quota)


def default_threads() -> int:
    """One thread per physical core, as llama-bench does, but never more than the CPUs this process may use.

    On a 2-CPU container of a 64-core host the physical count alone would start 32 threads on 2 CPUs.
    """
    return max(1, min(psutil.cpu_count(logical=False) or os.cpu_count() or 1, usable_cpus()))
