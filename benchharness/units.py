"""One way to print a figure with its unit, shared by the terminal, the HTML report and compare."""

from __future__ import annotations


def show(value: float | None, unit: str) -> str:
    """'152.7 tok/s', '96.5%', '78.4 MiB', '412 KiB'; an em dash for a missing value."""
    if value is None:
        return "—"
    if unit == "B":
        if abs(value) >= 2**30:
            return f"{value / 2**30:.2f} GiB"
        if abs(value) >= 2**20:
            return f"{value / 2**20:.1f} MiB"
        return f"{value / 2**10:.0f} KiB"
    if unit == "fraction":
        return f"{value:.2%}"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.4g} {unit}".strip()
