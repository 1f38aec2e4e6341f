"""The child's reply beyond its readings, typed: what a case was measured under, and what the parent adds.

`Measurement.info` was a dict the child filled and the parent added to, read by string key with silent
defaults (`info.get("accuracy_scored", True)`), so a renamed key or a wrong type drifted unseen. Here
every key the child or the parent writes is one typed field, `to_dict()` writes exactly the JSON the
results files have always held (flat, the same keys, the same nulls), and `from_dict()` is strict: an
unknown key, a missing one or a wrong type is a one-line ReplyError that names the key.

How a key is written, read off each field:
- a field without a default: a key every results file since schema 4 has (required);
- `_OMITTED`: a key written only when it has a value (the parent's provenance, a later-added key);
- `_NULL`: a key written always, null included, that files written before it existed lack (read as None);
- `_GROUP`: a kind's or a meter's keys, flat in the JSON; the group is there when any of its keys is, and
  then each of its required keys must be.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, replace
from typing import Any, Union, get_args, get_origin

from benchharness.errors import ReplyError

_OMITTED = {"absent": "omitted"}
_NULL = {"absent": "null"}
_GROUP = {"group": "flat"}


@dataclass(frozen=True)
class Flag:
    """A bottleneck flag with the figure that raised it; the session adds its likely causes and actions."""

    name: str  # cpu_bound, memory_bound, inconsistent, throttled; run_flags.py: low_bandwidth_utilisation, kernel_fallback
    figure: str  # the whole sentence
    value: str  # the figure alone, for a compact list of cases
    causes: str | None = field(default=None, metadata=_OMITTED)  # advice.py, on the parent's side
    actions: str | None = field(default=None, metadata=_OMITTED)


@dataclass(frozen=True)
class Flips:
    """Prompts whose exact answer the variant lost (right to wrong) or gained against the reference's."""

    right_to_wrong: int
    wrong_to_right: int
    items: int


@dataclass(frozen=True)
class Answers:
    """The team's prompts (data.prompts): how many, the longest answer, and the flips where the reference's are known."""

    prompts: int
    max_new_tokens: int
    answer_tokens: int
    flips: Flips | None = field(default=None, metadata=_OMITTED)


@dataclass(frozen=True)
class LmFacts:
    """What a causal-LM child timed and scored on (kinds/causal_lm.py)."""

    n_ctx: int
    prompt_tokens: int
    gen_tokens: int
    rounds: int
    depths: dict[str, str]  # "headline" or the depth's suffix -> what it timed ("pp128 @ d0, tg64 @ d128")
    tokenization: str
    kl_statistics: dict[str, Any] | None  # tasks/divergence.py's statistics; None where the reference wrote them
    timed_tokens: dict[str, Any] | None = field(default=None, metadata=_NULL)  # kinds/lm_timing's check
    workload_prompts: str | None = field(default=None, metadata=_OMITTED)  # where the timed prompts came from
    profiles: dict[str, str] | None = field(default=None, metadata=_OMITTED)  # each profile -> what it timed
    profiles_s: float | None = field(default=None, metadata=_OMITTED)
    sustained: dict[str, Any] | None = field(default=None, metadata=_OMITTED)  # kinds/sustained.Sustained
    answers: Answers | None = field(default=None, metadata=_OMITTED)


@dataclass(frozen=True)
class CallsFacts:
    """What a one-call child timed (kinds/one_call.py): its batch sizes and the calls timed at each."""

    batch_sizes: tuple[int, ...]
    calls: dict[str, int]


@dataclass(frozen=True)
class CpuFacts:
    """The CPU meter's view of the timed region (meters/utilisation.CpuMeter)."""

    cpu_per_core: tuple[float, ...]  # each core's busy share over the timed region, system-wide
    memory_available_bytes: float  # available memory when the region began plus what the child held


@dataclass(frozen=True)
class MemoryFacts:
    """The memory meter's view (meters/memory.MemoryMeter): what the child held before loading."""

    rss_before_load_bytes: float | None


@dataclass(frozen=True)
class RegionFacts:
    """What the region's meters add to the reply; a meter that failed adds nothing (its group stays None)."""

    cpu: CpuFacts | None = None
    memory: MemoryFacts | None = None

    def merged(self, other: RegionFacts) -> RegionFacts:
        """These facts with every group `other` has."""
        return replace(self, **{f.name: v for f in dataclasses.fields(other) if (v := getattr(other, f.name))})


@dataclass(frozen=True)
class KindFacts:
    """What a kind's measure() adds to the reply: where its time went, what its meters saw, its own facts."""

    timed_s: float  # the timed region's seconds (warm-up, profiles and sustained runs included)
    accuracy_s: float  # the accuracy task's seconds
    region: RegionFacts
    lm: LmFacts | None = None
    calls: CallsFacts | None = None
    runtime_settings: dict[str, Any] = field(default_factory=dict)  # what the backend set, in its own names


@dataclass(frozen=True)
class ChildInfo:
    """Everything but the figures in one case's reply: the child's facts, then the parent's (variant, flags)."""

    runtime: str  # the backend's runtime and version
    threads: int
    kind: str  # the model kind (kinds/)
    measurement_key: str  # suite, case, workload, threads, variant content, tokens (trial_runner.measurement_key)
    guard_start: dict[str, Any]  # meters/guards.read_guards: clock, governor, power, temperature
    guard_end: dict[str, Any]
    throttled: str | None  # why the region looks throttled, or None
    accuracy_scored: bool
    timed_s: float  # the child's timed seconds, the cold first call included (cost.py)
    accuracy_s: float
    flags: tuple[Flag, ...]  # the child's bottleneck flags, then the parent's (run_flags.py)
    # What the backend set, in its own names (precision hints, KV cache, page cache); a one-call child's
    # files before 2026-11-30 19:00 have none.
    runtime_settings: dict[str, Any] | None = field(default=None, metadata=_OMITTED)
    eval_data: dict[str, Any] | None = field(default=None, metadata=_OMITTED)  # each data file: path, size, SHA-256
    huge_pages: dict[str, Any] | None = field(default=None, metadata=_NULL)  # meters/memory.huge_page_use
    lm: LmFacts | None = field(default=None, metadata=_GROUP)
    calls: CallsFacts | None = field(default=None, metadata=_GROUP)
    cpu: CpuFacts | None = field(default=None, metadata=_GROUP)
    memory: MemoryFacts | None = field(default=None, metadata=_GROUP)
    variant_key: str | None = field(default=None, metadata=_OMITTED)  # the parent's, from here on
    variant_file: str | None = field(default=None, metadata=_OMITTED)
    provenance: dict[str, Any] | None = field(default=None, metadata=_OMITTED)  # who made the variant
    weights: dict[str, Any] | None = field(default=None, metadata=_OMITTED)  # formats/composition.Composition
    traffic: dict[str, Any] | None = field(default=None, metadata=_OMITTED)  # formats' TokenTraffic

    def to_dict(self) -> dict[str, Any]:
        """The JSON the results files hold: one flat object, the groups' keys beside the others'."""
        return _write(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "info") -> ChildInfo:
        """Read a reply's info strictly: ReplyError names an unknown, missing or mistyped key."""
        return _read(cls, data, where)


def _write(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if "group" in f.metadata:
                out |= {} if item is None else _write(item)
            elif item is not None or f.metadata.get("absent") != "omitted":
                out[f.name] = _write(item)
        return out
    if isinstance(value, dict):
        return {k: _write(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_write(v) for v in value]
    return value


def _keys(cls: type[Any]) -> set[str]:
    """Every key `cls` reads from its object, its groups' included."""
    hints = typing.get_type_hints(cls)
    keys: set[str] = set()
    for f in dataclasses.fields(cls):
        keys |= _keys(_dataclass_of(hints[f.name])) if "group" in f.metadata else {f.name}
    return keys


def _read(cls: type[Any], data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ReplyError(f"{where} is {type(data).__name__}, not an object; re-record it")
    unknown = sorted(set(data) - _keys(cls))
    if unknown:
        raise ReplyError(f"{where}.{unknown[0]} is not a key this version knows (unknown keys: {unknown})")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if "group" in f.metadata:
            group = _dataclass_of(hints[f.name])
            found = {k: data[k] for k in _keys(group) if k in data}
            values[f.name] = _read(group, found, where) if found else None
        elif f.name in data:
            values[f.name] = _convert(hints[f.name], data[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING:
            raise ReplyError(f"{where} has no {f.name!r} key; the file is not a benchharness reply, re-record it")
    return cls(**values)


def _dataclass_of(hint: Any) -> type[Any]:
    return next(a for a in get_args(hint) if isinstance(a, type) and dataclasses.is_dataclass(a))


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (option,) = [a for a in args if a is not type(None)]
        return _convert(option, value, where)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return _read(hint, value, where)  # type: ignore[arg-type]
    if origin is tuple:
        if not isinstance(value, list):
            raise ReplyError(f"{where} is {value!r}, not a list")
        return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ReplyError(f"{where} is {value!r}, not an object")
        return {k: _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint in (int, float) and isinstance(value, bool)):
        raise ReplyError(f"{where} is {value!r} ({type(value).__name__}), not {hint.__name__}")
    return value
