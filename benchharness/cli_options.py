"""The command line's share of the settings: filters, gate overrides, durations, and the Options they make.

Parsed once at start-up (plugin.py), so the session never sees a raw string; each bad value is a
one-line ConfigError naming the option, the value and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchharness.errors import ConfigError
from benchharness.gates import find_gate, names
from benchharness.toml_table import in_range


@dataclass(frozen=True)
class Filters:
    """Command-line filters; None means 'no filter'."""

    models: tuple[str, ...] | None = None
    variants: tuple[str, ...] | None = None
    backends: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Options:
    """What the command line asked for, beyond the settings files."""

    devices: tuple[str, ...]
    filters: Filters = Filters()
    gate_overrides: dict[str, float] = field(default_factory=dict)
    save_baseline: bool = False
    compare_baseline: bool = True
    baseline_any_machine: bool = False
    baseline_file: Path | None = None  # compare with this file instead of baselines/<this machine>.json
    time_budget_s: float | None = None
    report: Path | None = None  # the HTML report to write (None: results_dir/report-<time>.html)
    history: str | None = None  # history store URL or path; None: results_dir/history.sqlite; "off": none


def given_once(option: str, given: Sequence[tuple[str, str]], *, listed: bool) -> tuple[str | None, str | None]:
    """The value of `option` from every (name, value) the command line gave it under, and a note where it
    was given more than once.

    Under one name the last counts, as pytest means it: `addopts = --device=cpu` in a project is overridden by
    `pytest --device=cuda`, the way every pytest option works. Argparse used to drop the others silently, so
    the note says which counted (the run's header prints it). Under both its names (`--quant=int8
    --variant=fp32`) it is refused, as the config refuses both names of a key: nothing says which one meant it.
    `listed`: the option takes a comma list, the way to run several.
    """
    if not given:
        return None, None
    names = {name for name, _ in given}
    shown = " and ".join(f"{name}={value}" for name, value in given)
    several = f"give one comma list, e.g. {option}={','.join(v for _, v in given)}" if listed else ""
    if len(names) > 1:
        old = ", ".join(sorted(names - {option}))
        fix = several or f"give {option} once"
        raise ConfigError(f"{shown}: {option} is given under two names ({old} is its old name); {fix}")
    if len(given) == 1:
        return given[0][1], None
    value = given[-1][1]
    note = f"{option} given {len(given)} times ({shown}): the last, {value}, counts, as pytest reads options"
    return value, note + (f"; to run several, {several}" if several else "")


def parse_list(option: str, raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    values = tuple(v.strip().lower() for v in raw.split(",") if v.strip())
    if not values:
        raise ConfigError(f"{option}={raw!r} names nothing; give a comma-separated list")
    return values


def parse_gate_overrides(values: list[str]) -> dict[str, float]:
    """`--gate speedup=2.5` (repeatable, or comma-separated) into {name: minimum}.

    A gate named twice is refused: with last-wins, `--gate speedup=2 --gate speedup=3` in a script
    that appends options would gate on whichever came last, and nobody would see which.
    """
    overrides: dict[str, float] = {}
    for value in values:
        if not value.strip(" ,"):
            raise ConfigError(f"--gate={value!r} names nothing; write NAME=MIN, e.g. --gate speedup=1.5")
    for item in (part for value in values for part in value.split(",") if part.strip()):
        name, sep, raw = item.partition("=")
        name = name.strip()
        gate = find_gate(name)
        if not sep or gate is None:
            raise ConfigError(f"--gate {item!r}: expected NAME=MIN with NAME one of {', '.join(names())}")
        try:
            minimum = float(raw)
        except ValueError:
            raise ConfigError(f"--gate {item!r}: {raw!r} is not a number") from None
        in_range(f"--gate {name}", minimum, 0.0, gate.upper_bound)
        if name in overrides:
            raise ConfigError(
                f"--gate {name} is given twice ({overrides[name]:g} and {minimum:g}); give each gate once"
            )
        overrides[name] = minimum
    return overrides


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def parse_duration(option: str, raw: str | None) -> float | None:
    """`30m`, `90s` or `1.5h`, as seconds.

    The unit is required: a bare `10` read as seconds ends a run meant for ten minutes almost at
    once, and nothing says why.
    """
    if raw is None:
        return None
    match = _DURATION.match(raw)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"{option}={raw!r} is not a duration; write e.g. 30m, 90s or 1h")
    if not match.group(2):
        number = match.group(1)
        raise ConfigError(f"{option}={raw!r} has no unit; write {number}s, {number}m or {number}h")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
