"""What this machine has, so `--device=auto` can pick it and skip the rest with a reason.

Detection reads the operating system (driver files, platform) and NVML rather than importing
runtimes: whether a given *backend* can use a device is the backend's question, asked separately.

A device name is a type (`DEVICES`), and for NVIDIA GPUs on a machine with several, an index:
`cuda:0`, `cuda:1` (gpus.py). `auto` is every type, with this machine's GPUs in place of `cuda`.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from benchharness.gpus import cuda_device_names, gpus_here, split_device

DEVICES: tuple[str, ...] = ("cpu", "cuda", "metal", "gpu", "npu")
DEVICE_CHOICES: tuple[str, ...] = ("auto", *DEVICES)


@dataclass(frozen=True)
class DeviceStatus:
    """Whether a device type is present, with what was found or why it is absent."""

    name: str
    present: bool
    detail: str


def _pci_vendor_devices(pattern: str, vendor: str) -> list[Path]:
    found = []
    for node in sorted(Path("/sys/class").glob(pattern)):
        vendor_file = node / "device" / "vendor"
        try:
            if vendor_file.read_text().strip().lower() == vendor:
                found.append(node)
        except OSError:
            continue
    return found


def _detect(name: str) -> DeviceStatus:
    system = platform.system()
    if name == "cpu":
        return DeviceStatus("cpu", True, f"{platform.machine()} {platform.processor() or ''}".strip())
    if name.startswith("cuda"):
        return _detect_cuda(name)
    if name == "metal":
        if system == "Darwin" and platform.machine() == "arm64":
            return DeviceStatus("metal", True, "Apple silicon")
        return DeviceStatus("metal", False, f"Metal needs Apple silicon; this is {system} {platform.machine()}")
    if name == "gpu":
        cards = _pci_vendor_devices("drm/renderD*", "0x8086") if system == "Linux" else []
        if cards:
            return DeviceStatus("gpu", True, f"Intel GPU render node {cards[0].name}")
        return DeviceStatus("gpu", False, "no Intel GPU render node (/sys/class/drm/renderD* with vendor 0x8086)")
    if name == "npu":
        accels = _pci_vendor_devices("accel/accel*", "0x8086") if system == "Linux" else []
        if accels:
            return DeviceStatus("npu", True, f"Intel NPU {accels[0].name}")
        return DeviceStatus("npu", False, "no Intel NPU (/sys/class/accel/accel* with vendor 0x8086)")
    raise ValueError(f"unknown device {name!r}; valid: {', '.join(DEVICES)}")


def _driver_boards() -> list[Path]:
    """The boards NVIDIA's kernel driver lists: the fallback where NVML itself cannot be loaded."""
    return sorted(Path("/proc/driver/nvidia/gpus").glob("*"))


def _detect_cuda(name: str) -> DeviceStatus:
    """`cuda` or `cuda:N`: present when NVML (or, without NVML, the driver's files) lists that board."""
    _, index = split_device(name)
    gpus, nvml_reason = gpus_here()
    if gpus:
        if index >= len(gpus):
            return DeviceStatus(
                name, False, f"no GPU {index}: this machine has {len(gpus)} NVIDIA GPU(s), cuda:0..cuda:{len(gpus) - 1}"
            )
        gpu = gpus[index]
        return DeviceStatus(name, True, f"GPU {index}: {gpu.describe()}, driver {gpu.driver_version}")
    boards = _driver_boards()
    if index < len(boards):
        return DeviceStatus(name, True, f"NVIDIA GPU {index} of {len(boards)} with a loaded driver ({nvml_reason})")
    if boards:
        return DeviceStatus(name, False, f"no GPU {index}: this machine has {len(boards)} NVIDIA GPU(s)")
    return DeviceStatus(name, False, "no NVIDIA GPU with a loaded driver (/proc/driver/nvidia/gpus is empty)")


def cuda_devices_here() -> tuple[str, ...]:
    """This machine's cuda device names: one per GPU (`cuda` alone, or `cuda:0`, ...); `cuda` where none."""
    gpus, _ = gpus_here()
    count = len(gpus) or len(_driver_boards())
    return cuda_device_names(count)


def check_device_name(name: str) -> str:
    """`name` if it is a device type or `cuda:N`; otherwise a ValueError saying what is valid."""
    device_type, _ = split_device(name) if ":" in name else (name, 0)
    if device_type not in DEVICE_CHOICES or (":" in name and device_type != "cuda"):
        raise ValueError(
            f"unknown device {name!r}; valid: {', '.join(DEVICE_CHOICES)}, or cuda:N for one of several GPUs"
        )
    return name


@cache
def detect(name: str) -> DeviceStatus:
    """The status of one device (a type, or `cuda:N`; cached: hardware does not change during a session)."""
    return _detect(name)


def resolve_devices(requested: str) -> tuple[str, ...]:
    """Device names a session parametrizes over; `auto` is every type (one cuda name per GPU here).

    Absent devices become skips.
    Keeping absent devices as skipped cases (instead of dropping them) lets a lab's merged report
    show which machine could not run what, and why.
    """
    names = [check_device_name(d.strip()) for d in requested.split(",") if d.strip()]
    if not names:
        raise ValueError(f"unknown device {requested!r}; valid: {', '.join(DEVICE_CHOICES)}")
    if "auto" in names:
        return tuple(
            name
            for device_type in DEVICES
            for name in (cuda_devices_here() if device_type == "cuda" else (device_type,))
        )
    return tuple(dict.fromkeys(names))
