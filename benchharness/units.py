"""One way to print a figure with its unit, shared by the terminal, the HTML report and compare."""

from __future__ import annotations

import math
import re


def show(value: float | None, unit: str) -> str:
    """'152.7 tok/s', '96.5%', '78.4 MiB', '412 KiB'; an em dash for a missing value."""
    if value is None:
        return "—"
    if unit == "B":
        if abs(value) >= 2**30:
            return f"{fixed(value / 2**30, '.2f')} GiB"
        if abs(value) >= 2**20:
            return f"{fixed(value / 2**20, '.1f')} MiB"
        if abs(value) >= 2**10:
            return f"{fixed(value / 2**10, '.0f')} KiB"
        return f"{value:.0f} B"  # a count of bytes is whole: 412 B, not 0 KiB
    if unit == "fraction":
        return fixed(value, ".2%")
    if unit == "x":
        return f"{fixed(value, '.2f')}x"
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


FIXED = re.compile(r"\.(\d+)([f%])")


def fixed(value: float, fmt: str, digits: int = 3) -> str:
    """`value` in a fixed-point format (".2f", ".0%"), widened to at least `digits` significant digits.

    Why: a column's format fits its usual figures, and a figure far smaller lost its digits to it (a 12 us
    batch-1 latency read "0.01" ms, a 0.3% share "0%"). The format's decimals are a floor, never a cap on what
    the figure has; any other format (",.0f", "g") is applied as it is.
    """
    found = FIXED.fullmatch(fmt)
    if found is None or value == 0 or not math.isfinite(value):
        return format(value, fmt)
    decimals, kind = int(found.group(1)), found.group(2)
    magnitude = math.floor(math.log10(abs(value * 100 if kind == "%" else value)))
    return format(value, f".{max(decimals, digits - 1 - magnitude)}{kind}")


def spread(value: float | None, stdev: float | None) -> str:
    """A spread as a share of its figure ('± 9%'), so it needs no unit and no digits of its own."""
    if not value or not stdev:
        return ""
    return f" ± {abs(stdev / value):.0%}"
