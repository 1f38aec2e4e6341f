"""What this machine has, so `--device=auto` can pick it and skip the rest with a reason.

Detection reads the operating system (driver files, platform) rather than importing runtimes:
whether a given *backend* can use a device is the backend's question, asked separately.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DEVICES: tuple[str, ...] = ("cpu", "cuda", "metal", "gpu", "npu")
DEVICE_CHOICES: tuple[str, ...] = ("auto", *DEVICES)


@dataclass(frozen=True)
class DeviceStatus:
    """Whether a device kind is present, with what was found or why it is absent."""

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
    if name == "cuda":
        gpus = sorted(Path("/proc/driver/nvidia/gpus").glob("*"))
        if gpus:
            return DeviceStatus("cuda", True, f"{len(gpus)} NVIDIA GPU(s) with a loaded driver")
        return DeviceStatus("cuda", False, "no NVIDIA GPU with a loaded driver (/proc/driver/nvidia/gpus is empty)")
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


@cache
def detect(name: str) -> DeviceStatus:
    """The status of one device kind (cached: hardware does not change during a session)."""
    return _detect(name)


def resolve_devices(requested: str) -> tuple[str, ...]:
    """Device kinds a session parametrizes over; `auto` means all, absent ones become skips.

    Keeping absent devices as skipped cases (instead of dropping them) lets a lab's merged report
    show which machine could not run what, and why.
    """
    names = [d.strip() for d in requested.split(",") if d.strip()]
    unknown = [d for d in names if d not in DEVICE_CHOICES]
    if unknown or not names:
        raise ValueError(f"unknown device {(unknown or [requested])[0]!r}; valid: {', '.join(DEVICE_CHOICES)}")
    if "auto" in names:
        return DEVICES
    return tuple(dict.fromkeys(names))
