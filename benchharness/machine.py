"""Who measured: a machine fingerprint, package versions and the git commit, stored with every figure."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import psutil

PACKAGES = ("benchharness", "llama-cpp-python", "numpy", "pytest", "pytest-benchmark", "onnxruntime", "openvino", "mlx")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@cache
def fingerprint() -> dict[str, Any]:
    """What makes figures comparable: CPU, core count, memory, OS and architecture.

    `BENCHHARNESS_MACHINE` names the machine explicitly (a lab's host name), which otherwise is
    derived from the hardware so identical CI runners share one baseline.
    """
    memory_gib = round(psutil.virtual_memory().total / 2**30)
    info = {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count() or 0,
        "physical_cores": psutil.cpu_count(logical=False) or 0,
        "memory_gib": memory_gib,
        "system": platform.system(),
        "arch": platform.machine(),
        "python": platform.python_version(),
    }
    derived = f"{info['system']}-{info['arch']}-{info['cpu']}-{info['logical_cores']}c-{memory_gib}g"
    info["id"] = os.environ.get("BENCHHARNESS_MACHINE") or re.sub(r"[^a-z0-9]+", "-", derived.lower()).strip("-")
    return info


def comparable(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Fields that differ between two fingerprints in ways that change performance."""
    keys = ("cpu", "logical_cores", "memory_gib", "system", "arch")
    return [f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)]


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def default_threads() -> int:
    """One thread per physical core, as llama-bench does."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1
