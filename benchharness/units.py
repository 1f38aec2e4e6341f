"""One way to print a figure with its unit, shared by the terminal, the HTML report and compare."""

from __future__ import annotations

import math


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
    if unit == "ms" and 0 < abs(value) < 1:  # a 56 us call reads better as 56.00 us than as 0.056 ms
        return f"{significant(value * 1000)} us"
    return f"{significant(value)} {unit}".strip()


def significant(value: float, digits: int = 4) -> str:
    """`digits` significant digits in fixed point, never an exponent: '152.7', '45.89', '0.05612', '23,360'.

    Thousands are grouped and printed whole (a throughput of 23,360 items/s needs no decimals).
    """
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits - 1:
        return f"{value:,.0f}"
    return f"{value:.{digits - 1 - magnitude}f}"


def spread(value: float | None, stdev: float | None) -> str:
    """A spread as a share of its figure ('± 9%'), so it needs no unit and no digits of its own."""
    if not value or not stdev:
        return ""
    return f" ± {abs(stdev / value):.0%}"
