"""The typed contract between the parent (pytest) process and a child that builds or measures.

Every request and response is a frozen dataclass. `encode` turns one into JSON-ready data and
`decode` reads it back strictly: a missing or unknown key is an error naming the key, never a
default filled in behind the caller's back (the untyped dict this replaced had already drifted).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from benchharness.evaldata import EvalData
from benchharness.meters.guards import GuardReading
from benchharness.settings import AccuracySettings, Workload

T = TypeVar("T")

ReferenceRole = Literal["write", "read", "none"]


class ProtocolError(ValueError):
    """A message between parent and child that does not match its declared shape."""


@dataclass(frozen=True)
class BuildRequest:
    """Make one variant file with a recipe (models/recipes.py), in a child under the case timeout."""

    recipe: str
    source: str | None
    destination: str
    params: dict[str, str]
    threads: int


@dataclass(frozen=True)
class ModelSpec:
    """Which runtime loads which file, on which device, for which model kind."""

    backend: str  # 'module:Class', importable in the child
    runtime_module: str  # the runtime's import name; the child imports it before anything else
    device: str
    kind: str  # a name in benchharness.kinds
    path: str
    file_bytes: int  # the weights the runtime loads (Variant.file_bytes; models/sizes.py says what counts)
    safe_mode: bool = False  # load with the backend's safe mode (its fast path died of SIGILL here)
    context_tokens: int | None = None  # the model's context as its files declare it (None: they do not say)


@dataclass(frozen=True)
class MeasureRequest:
    """One variant alone in its child: load, cold start, timed rounds, meters, and (optionally) accuracy.

    `measurement_key` is everything that defines the measurement (suite, case, workload, variant
    content), so two suites sharing a case id never share figures.
    """

    case_id: str
    measurement_key: str
    model: ModelSpec
    threads: int
    workload: Workload
    accuracy: AccuracySettings
    score_accuracy: bool
    reference_outputs: str | None
    reference_role: ReferenceRole
    corpus_tokens: str | None  # the model's shared tokenization of the corpus (.npy), or None: the backend's own
    data: EvalData  # the model's evaluation data (empty: the built-in data), as checked and hashed at start-up
    estimate_cpu_tdp_w: float | None = None  # asked-for energy estimate where no counter exists (never gated)


@dataclass(frozen=True)
class PairedRequest:
    """A variant and its reference in one child, timed in alternating rounds (A-B-B-A ...).

    Alternating rounds seconds apart makes machine drift cancel out of every per-pair ratio;
    memory is not read here (two models are resident), it comes from each variant's own child.
    """

    case_id: str
    variant: ModelSpec
    reference: ModelSpec
    threads: int
    workload: Workload
    accuracy: AccuracySettings
    pairs: int
    first: Literal["variant", "reference"]
    corpus_tokens: str | None
    data: EvalData  # the timed prompts come from the model's own data, as in the solo measurement
    stop_spinning: bool = True  # LoadOptions.stop_spinning; False only to measure what spinning costs (A/A benchmark)


@dataclass(frozen=True)
class PairedTiming:
    """Per-pair samples of the gate's speed metric for both sides, in the order they ran."""

    case_id: str
    metric: str
    variant: tuple[float, ...]
    reference: tuple[float, ...]
    order: tuple[str, ...]  # 'VR' or 'RV' per pair
    guard_start: GuardReading  # meters/guards.read_guards, before the first pair and after the last
    guard_end: GuardReading
    timed_s: float  # warm-up and paired rounds: the child's time spent measuring


@dataclass(frozen=True)
class ChildError:
    """A BenchHarnessError raised on purpose in the child, to be re-raised as the same class."""

    type: str
    message: str


Request = BuildRequest | MeasureRequest | PairedRequest
TASKS: dict[str, type[Any]] = {"build": BuildRequest, "measure": MeasureRequest, "paired": PairedRequest}


def task_name(request: Request) -> str:
    return next(name for name, cls in TASKS.items() if isinstance(request, cls))


def encode(value: Any) -> Any:
    """A dataclass (recursively) as plain JSON data; tuples become lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(cls: type[T], data: Any, where: str | None = None) -> T:
    """Read `data` as `cls`, checking every key and type; ProtocolError names what does not fit."""
    where = where or cls.__name__
    if not isinstance(data, dict):
        raise ProtocolError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(names))
    missing = [n for n in names if n not in data]
    if unknown or missing:
        raise ProtocolError(f"{where}: unknown keys {unknown} / missing keys {missing}")
    return cls(**{n: _value(hints[n], data[n], f"{where}.{n}") for n in names})


def _value(hint: Any, value: Any, where: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _value(option, value, where)
            except ProtocolError as e:
                errors.append(str(e))
        raise ProtocolError(errors[0] if errors else f"{where}: {value!r} does not fit {hint}")
    if origin is Literal:
        if value not in args:
            raise ProtocolError(f"{where}: {value!r} is not one of {args}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ProtocolError(f"{where}: expected a list, got {type(value).__name__}")
        return tuple(_value(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ProtocolError(f"{where}: expected an object, got {type(value).__name__}")
        return {k: _value(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return decode(hint, value, where)  # type: ignore[arg-type]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint in (int, float) and isinstance(value, bool)):
        raise ProtocolError(f"{where}: {value!r} is not {getattr(hint, '__name__', hint)}")
    return value
