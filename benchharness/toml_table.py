"""A generic strict TOML reader: a table consumed key by key, whose leftovers are unknown keys.

Nothing here knows benchharness's schema (config.py does): a `Table` hands out typed values and
refuses a wrong type, `finish()` refuses any key nobody took, naming the valid ones, and the
helpers read files, merge tables and parse `key=value` assignments, each failure a one-line
ConfigError that names the key, the value and the fix.
"""

from __future__ import annotations

import math
import re
import tomllib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchharness.errors import ConfigError, RenamedSetting


class Table:
    """A TOML table being consumed key by key, so leftovers can be reported as unknown keys."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where} must be a table, got {type(data).__name__} {data!r}")
        self.data = dict(data)
        self.where = where
        self.known: list[str] = []

    def take(self, key: str, expected: type, default: Any = None) -> Any:
        self.known.append(key)
        if key not in self.data:
            return default
        value = self.data.pop(key)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{self.where}.{key} = {value!r} must be {expected.__name__}; fix it in your config")
        return value

    def renamed(self, old: str, new: str) -> None:
        """Read key `old` as `new` (its name before a rename), warning once with the new name; both is an error."""
        if old not in self.data:
            return
        if new in self.data:
            raise ConfigError(
                f"{self.where} sets both {old!r} and {new!r}; {old!r} is the old name of {new!r}: delete {old!r}"
            )
        self.data[new] = self.data.pop(old)
        warnings.warn(RenamedSetting(f"{self.where}.{old} is now called {new}; rename the key"), stacklevel=2)

    def sub(self, key: str) -> Table:
        self.known.append(key)
        return Table(self.data.pop(key, {}), f"{self.where}.{key}")

    def finish(self) -> None:
        if self.data:
            key = sorted(self.data)[0]
            valid = ", ".join(sorted(self.known)) or "(none)"
            raise ConfigError(f"{self.where}: unknown key {key!r}; valid keys: {valid}")


def in_range(where: str, value: float, low: float, high: float | None = None) -> None:
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in {low}..{high}"
        raise ConfigError(f"{where} = {value!r} is out of range; it must be {bounds}")


def name_list(table: Table, key: str, empty_ok: bool = False) -> tuple[str, ...] | None:
    """A list of names. One rule for `[]`: it names nothing, so where nothing would run or be gated it is
    refused (leave the key out to mean all); only `known_breaches = []` (no breach declared) accepts it."""
    value = table.take(key, list)
    if value is None:
        return None
    if not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{table.where}.{key} = {value!r} must be a list of strings")
    if not value and not empty_ok:
        raise ConfigError(f"{table.where}.{key} = [] names nothing; leave the key out to mean all, or list names")
    return tuple(value)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)\s*$", re.IGNORECASE)
_SIZE_FACTORS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_SIZE_FACTORS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(where: str, value: object) -> float:
    """A byte count: an integer, or a string with its unit ("50 MiB" = 50 x 2**20, "1 GB" = 10**9).

    A bare number in a string is refused: "50" could mean bytes or megabytes, and a phone budget read
    as 50 bytes rules out everything without saying why.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        in_range(where, value, 1)
        return float(value)
    if isinstance(value, str) and (match := _SIZE.match(value)) and float(match.group(1)) > 0:
        return float(match.group(1)) * _SIZE_FACTORS[match.group(2).lower()]
    raise ConfigError(
        f"{where} = {value!r} is not a size; write a byte count (52428800) or a number with its unit "
        '("50 MiB", "1 GB"; KiB/MiB/GiB are powers of 2, kB/MB/GB powers of 10)'
    )


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict, with a one-line error for a missing or malformed file."""
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory; name a .toml file")
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; check the path") from None
    except PermissionError:
        raise ConfigError(f"config file {path} is not readable; check its permissions") from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"config file {path} is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML ({e}); fix the syntax") from None
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read ({e.strerror}); check the path") from None


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Nested tables merge key by key; any other value in `override` replaces the base value."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_assignment(text: str) -> dict[str, Any]:
    """`workload.gen_tokens=16` as a nested dict; the value is read as a TOML value when it parses."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--bench-set {text!r} must look like section.key=value, e.g. workload.gen_tokens=16")
    try:
        value: Any = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    parts = [p.strip() for p in key.strip().split(".")]
    nested: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        nested = {part: nested}
    return nested
