"""Frozen dataclasses to and from JSON, strictly: the reader behind the child's typed reply (child_info.py).

The child's reply nests the types other modules own (the sustained run, the KL statistics, the weights'
composition, the guards' reading, ...). Each is read by this one reader, so an unknown key, a missing one
or a wrong type anywhere inside is the same one-line ReplyError naming its path in the JSON
(`info.sustained.intervals[0].rounds`), and each type is written back exactly as it was read.

How a field is written, read off its metadata:
- no default: a key every object of the type has (required);
- a default: written always, null included; an object written before the key existed lacks it (read as the
  default);
- `OMITTED`: a key written only when it is not None;
- `GROUP`: a nested dataclass whose keys sit flat in the parent's object; the group is there when any of its
  keys is, and then each of its required keys must be.

Two hooks for a type whose JSON is not its fields one by one:
- a class variable `json_derived` names properties written after the fields (figures derived from them,
  kept in the JSON for its readers); the reader checks those keys' types (the property's return type) and
  recomputes them;
- a class with `to_json()` and a class method `from_json(data, where)` writes and reads itself (its own shape,
  e.g. formats/composition.WeightComposition); it uses `read_value` for its parts, so its errors read alike.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Union, get_args, get_origin

from benchharness.errors import ReplyError

OMITTED = {"absent": "omitted"}
NULL = {"absent": "null"}  # documentation only: a key with a default already reads as it when absent
GROUP = {"group": "flat"}


def write(value: Any) -> Any:
    """`value` as JSON data: a dataclass as an object (its groups flat), tuples as lists."""
    if hasattr(value, "to_json") and not isinstance(value, type):
        return value.to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return write_fields(value)
    if isinstance(value, dict):
        return {k: write(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [write(v) for v in value]
    return value


def write_fields(value: Any) -> dict[str, Any]:
    """A dataclass's fields (and its derived keys) as one object, without its own `to_json` hook."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        if "group" in f.metadata:
            out |= {} if item is None else write_fields(item)
        elif item is not None or f.metadata.get("absent") != "omitted":
            out[f.name] = write(item)
    for name in getattr(type(value), "json_derived", ()):
        out[name] = write(getattr(value, name))
    return out


def keys(cls: type[Any]) -> set[str]:
    """Every key `cls` reads from its object: its fields, its groups' keys and its derived keys."""
    hints = typing.get_type_hints(cls)
    found: set[str] = set(getattr(cls, "json_derived", ()))
    for f in dataclasses.fields(cls):
        found |= keys(_dataclass_of(hints[f.name])) if "group" in f.metadata else {f.name}
    return found


def read(cls: type[Any], data: Any, where: str) -> Any:
    """`data` as `cls`; ReplyError names an unknown, missing or mistyped key by its path from `where`."""
    hook = getattr(cls, "from_json", None)
    return hook(data, where) if hook is not None else read_fields(cls, data, where)


def read_fields(cls: type[Any], data: Any, where: str) -> Any:
    """`data` as `cls`, field by field, without its own `from_json` hook (derived keys are recomputed)."""
    if not isinstance(data, dict):
        raise ReplyError(f"{where} is {data!r} ({type(data).__name__}), not an object; re-record it")
    unknown = sorted(set(data) - keys(cls))
    if unknown:
        raise ReplyError(f"{where}.{unknown[0]} is not a key this version knows (unknown keys: {unknown})")
    for name in getattr(cls, "json_derived", ()):  # recomputed from the fields; checked for its type alone
        if name in data:
            read_value(typing.get_type_hints(getattr(cls, name).fget)["return"], data[name], f"{where}.{name}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if "group" in f.metadata:
            group = _dataclass_of(hints[f.name])
            found = {k: data[k] for k in keys(group) if k in data}
            values[f.name] = read_fields(group, found, where) if found else None
        elif f.name in data:
            values[f.name] = read_value(hints[f.name], data[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ReplyError(f"{where} has no {f.name!r} key; the file is not a benchharness reply, re-record it")
    return cls(**values)


def _dataclass_of(hint: Any) -> type[Any]:
    return next(a for a in get_args(hint) if isinstance(a, type) and dataclasses.is_dataclass(a))


def read_value(hint: Any, value: Any, where: str) -> Any:
    """`value` as the type `hint` names (a dataclass, a tuple, a dict, a scalar or an optional one)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (option,) = [a for a in args if a is not type(None)]
        return read_value(option, value, where)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return read(hint, value, where)  # type: ignore[arg-type]
    if origin is tuple:
        if not isinstance(value, list):
            raise ReplyError(f"{where} is {value!r}, not a list")
        return tuple(read_value(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ReplyError(f"{where} is {value!r}, not an object")
        return {k: read_value(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint in (int, float) and isinstance(value, bool)):
        raise ReplyError(f"{where} is {value!r} ({type(value).__name__}), not {hint.__name__}")
    return value


def check_keys(
    data: Any, where: str, required: frozenset[str] | set[str], optional: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    """`data` as an object with exactly these keys (the optional ones may be absent), for a `from_json` hook."""
    if not isinstance(data, dict):
        raise ReplyError(f"{where} is {data!r} ({type(data).__name__}), not an object; re-record it")
    unknown = sorted(set(data) - required - optional)
    if unknown:
        raise ReplyError(f"{where}.{unknown[0]} is not a key this version knows (unknown keys: {unknown})")
    missing = sorted(required - set(data))
    if missing:
        raise ReplyError(f"{where} has no {missing[0]!r} key; the file is not a benchharness reply, re-record it")
    return data
