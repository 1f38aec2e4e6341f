"""Typed settings from `[tool.benchharness]`, an optional extra TOML file and `--bench-set`.

Precedence, lowest first: built-in defaults, pyproject.toml `[tool.benchharness]`, the file given
with `--bench-config`, then `--bench-set key=value` pairs. Unknown keys and out-of-range values are
ConfigErrors that name the table, the key, the value and what is allowed: a typo in a gate name
must never silently disable the gate.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchharness.errors import ConfigError
from benchharness.gates import DEFAULT_GATES, GATES, GateRule

FORMATS = ("gguf", "onnx", "openvino", "mlx", "hf")
MODEL_KINDS = ("causal-lm", "encoder", "classifier")


@dataclass(frozen=True)
class Workload:
    """The generation workload timed for every case (llama-bench's pp/tg, with warm-up and rounds)."""

    prompt_tokens: int = 128
    gen_tokens: int = 64
    warmup_rounds: int = 1
    min_rounds: int = 5
    max_rounds: int = 50
    min_time_s: float = 3.0


@dataclass(frozen=True)
class AccuracySettings:
    """The next-token task: `windows` windows of `n_ctx` tokens, the second half of each scored."""

    n_ctx: int = 512
    windows: int = 12


@dataclass(frozen=True)
class BaselineSettings:
    """Regression = worse than the baseline by more than noise_k spreads and min_effect relative."""

    noise_k: float = 3.0
    min_effect: float = 0.05


@dataclass(frozen=True)
class VariantSource:
    """Where a user-declared variant comes from: a file, or llama.cpp's quantizer applied to another."""

    path: Path | None = None
    quantize: str | None = None
    base: str | None = None  # label of the variant to quantize from; None: the model's reference
    format: str | None = None  # None: read off the file's suffix (.gguf, .onnx, .xml), or gguf for quantize


@dataclass(frozen=True)
class ModelConfig:
    """A model declared (or extended) in configuration instead of Python."""

    name: str
    reference: str | None
    variants: dict[str, VariantSource]
    kind: str = "causal-lm"  # what the model does: causal-lm, encoder or classifier


@dataclass(frozen=True)
class SuiteConfig:
    """One suite's matrix and gate policy (`[tool.benchharness.suites.NAME]`)."""

    name: str
    models: tuple[str, ...] | None = None  # None: every registered model the backends can load
    backends: tuple[str, ...] | None = None
    quants: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    gates: tuple[GateRule, ...] = DEFAULT_GATES
    workload: Workload | None = None  # None: the global [tool.benchharness.workload]
    accuracy: AccuracySettings | None = None  # None: the global [tool.benchharness.accuracy]


@dataclass(frozen=True)
class Settings:
    """Everything the plugin needs, resolved and validated once per session."""

    root: Path
    threads: int = 0  # 0: one per physical core
    cache_dir: Path = field(default_factory=lambda: default_cache_dir())
    results_dir: Path = Path("reports")
    baselines_dir: Path = Path("baselines")
    case_timeout_s: float = 900.0
    workload: Workload = Workload()
    accuracy: AccuracySettings = AccuracySettings()
    baseline: BaselineSettings = BaselineSettings()
    models: tuple[ModelConfig, ...] = ()
    suites: dict[str, SuiteConfig] = field(default_factory=dict)


def default_cache_dir() -> Path:
    """Prepared variants are large and reusable across clones: keep them in the user cache."""
    if env := os.environ.get("BENCHHARNESS_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "benchharness"


class _Table:
    """A TOML table being consumed key by key, so leftovers can be reported as unknown keys."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where} must be a table, got {type(data).__name__} {data!r}")
        self.data = dict(data)
        self.where = where
        self.known: list[str] = []

    def take(self, key: str, kind: type, default: Any = None) -> Any:
        self.known.append(key)
        if key not in self.data:
            return default
        value = self.data.pop(key)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{self.where}.{key} = {value!r} must be {kind.__name__}; fix it in your config")
        return value

    def sub(self, key: str) -> _Table:
        self.known.append(key)
        return _Table(self.data.pop(key, {}), f"{self.where}.{key}")

    def finish(self) -> None:
        if self.data:
            key = sorted(self.data)[0]
            valid = ", ".join(sorted(self.known)) or "(none)"
            raise ConfigError(f"{self.where}: unknown key {key!r}; valid keys: {valid}")


def _in_range(where: str, value: float, low: float, high: float | None = None) -> None:
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in {low}..{high}"
        raise ConfigError(f"{where} = {value!r} is out of range; it must be {bounds}")


def _names(table: _Table, key: str) -> tuple[str, ...] | None:
    value = table.take(key, list)
    if value is None:
        return None
    if not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{table.where}.{key} = {value!r} must be a list of strings")
    return tuple(value)


def _parse_workload(t: _Table, base: Workload) -> Workload:
    w = Workload(
        prompt_tokens=t.take("prompt_tokens", int, base.prompt_tokens),
        gen_tokens=t.take("gen_tokens", int, base.gen_tokens),
        warmup_rounds=t.take("warmup_rounds", int, base.warmup_rounds),
        min_rounds=t.take("min_rounds", int, base.min_rounds),
        max_rounds=t.take("max_rounds", int, base.max_rounds),
        min_time_s=t.take("min_time_s", float, base.min_time_s),
    )
    t.finish()
    _in_range(f"{t.where}.prompt_tokens", w.prompt_tokens, 1, 32768)
    _in_range(f"{t.where}.gen_tokens", w.gen_tokens, 1, 32768)
    _in_range(f"{t.where}.warmup_rounds", w.warmup_rounds, 0, 100)
    _in_range(f"{t.where}.min_rounds", w.min_rounds, 1, 10000)
    _in_range(f"{t.where}.max_rounds", w.max_rounds, w.min_rounds, 100000)
    _in_range(f"{t.where}.min_time_s", w.min_time_s, 0.0, 3600.0)
    return w


def _parse_accuracy(t: _Table, base: AccuracySettings) -> AccuracySettings:
    a = AccuracySettings(n_ctx=t.take("n_ctx", int, base.n_ctx), windows=t.take("windows", int, base.windows))
    t.finish()
    _in_range(f"{t.where}.n_ctx", a.n_ctx, 16, 32768)
    _in_range(f"{t.where}.windows", a.windows, 1, 10000)
    return a


def _parse_gates(t: _Table) -> tuple[GateRule, ...]:
    rules: dict[str, GateRule] = {r.name: r for r in DEFAULT_GATES}
    for name in list(t.data):
        if name not in GATES:
            raise ConfigError(f"{t.where}: unknown gate {name!r}; valid gates: {', '.join(sorted(GATES))}")
        spec = t.data.pop(name)
        if spec is False or spec == "off":
            rules.pop(name, None)
            continue
        g = _Table(spec, f"{t.where}.{name}")
        minimum = g.take("min", float, DEFAULT_GATES[[r.name for r in DEFAULT_GATES].index(name)].minimum)
        quants = _names(g, "quants")
        known = _names(g, "known_breaches") or ()
        borderline = _names(g, "borderline") or ()
        g.finish()
        _check_gate_minimum(f"{g.where}.min", name, minimum)
        both = set(known) & set(borderline)
        if both:
            raise ConfigError(f"{g.where}: {sorted(both)[0]!r} is in both known_breaches and borderline; pick one")
        rules[name] = GateRule(name, minimum, quants, known, borderline)
    t.finish()
    return tuple(rules.values())


def _check_gate_minimum(where: str, name: str, minimum: float) -> None:
    if name == "speedup":
        _in_range(where, minimum, 0.0, 1000.0)
    else:
        _in_range(where, minimum, 0.0, 1.0)


def _parse_models(t: _Table, root: Path) -> tuple[ModelConfig, ...]:
    models: list[ModelConfig] = []
    for name in list(t.data):
        m = _Table(t.data.pop(name), f"{t.where}.{name}")
        reference = m.take("reference", str)
        variants_table = m.sub("variants")
        variants: dict[str, VariantSource] = {}
        for label in list(variants_table.data):
            spec = variants_table.data.pop(label)
            where = f"{variants_table.where}.{label}"
            if isinstance(spec, str):
                spec = {"path": spec}
            v = _Table(spec, where)
            path = v.take("path", str)
            quantize = v.take("quantize", str)
            base = v.take("from", str)
            fmt = v.take("format", str)
            v.finish()
            if fmt is not None and fmt not in FORMATS:
                raise ConfigError(f"{where}.format = {fmt!r} is unknown; valid: {', '.join(FORMATS)}")
            if (path is None) == (quantize is None):
                raise ConfigError(f"{where}: give exactly one of path = 'file.gguf' or quantize = 'Q4_0'")
            resolved = (root / Path(path).expanduser()) if path else None
            variants[label] = VariantSource(path=resolved, quantize=quantize, base=base, format=fmt)
        kind = m.take("kind", str, "causal-lm")
        m.finish()
        if kind not in MODEL_KINDS:
            raise ConfigError(f"{m.where}.kind = {kind!r} is unknown; valid: {', '.join(MODEL_KINDS)}")
        models.append(ModelConfig(name=name, reference=reference, variants=variants, kind=kind))
    return tuple(models)


def _parse_suites(t: _Table, workload: Workload, accuracy: AccuracySettings) -> dict[str, SuiteConfig]:
    suites: dict[str, SuiteConfig] = {}
    for name in list(t.data):
        s = _Table(t.data.pop(name), f"{t.where}.{name}")
        own_workload = "workload" in s.data
        own_accuracy = "accuracy" in s.data
        suite_workload = _parse_workload(s.sub("workload"), workload)
        suite_accuracy = _parse_accuracy(s.sub("accuracy"), accuracy)
        suite = SuiteConfig(
            name=name,
            models=_names(s, "models"),
            backends=_names(s, "backends"),
            quants=_names(s, "quants"),
            devices=_names(s, "devices"),
            gates=_parse_gates(s.sub("gates")),
            workload=suite_workload if own_workload else None,
            accuracy=suite_accuracy if own_accuracy else None,
        )
        s.finish()
        suites[name] = suite
    return suites


def parse_settings(data: Mapping[str, Any], root: Path, where: str = "[tool.benchharness]") -> Settings:
    """Validate a merged `[tool.benchharness]` table into Settings (paths relative to `root`)."""
    t = _Table(data, where)
    threads = t.take("threads", int, 0)
    _in_range(f"{where}.threads", threads, 0, 1024)
    cache_dir = t.take("cache_dir", str)
    timeout = t.take("case_timeout_s", float, 900.0)
    _in_range(f"{where}.case_timeout_s", timeout, 1.0, 86400.0)
    baseline_t = t.sub("baseline")
    baseline = BaselineSettings(
        noise_k=baseline_t.take("noise_k", float, 3.0), min_effect=baseline_t.take("min_effect", float, 0.05)
    )
    baseline_t.finish()
    _in_range(f"{baseline_t.where}.noise_k", baseline.noise_k, 0.0, 100.0)
    _in_range(f"{baseline_t.where}.min_effect", baseline.min_effect, 0.0, 10.0)
    workload = _parse_workload(t.sub("workload"), Workload())
    accuracy = _parse_accuracy(t.sub("accuracy"), AccuracySettings())
    settings = Settings(
        root=root,
        threads=threads,
        cache_dir=Path(cache_dir).expanduser() if cache_dir else default_cache_dir(),
        results_dir=root / t.take("results_dir", str, "reports"),
        baselines_dir=root / t.take("baselines_dir", str, "baselines"),
        case_timeout_s=timeout,
        workload=workload,
        accuracy=accuracy,
        baseline=baseline,
        models=_parse_models(t.sub("models"), root),
        suites=_parse_suites(t.sub("suites"), workload, accuracy),
    )
    t.finish()
    return settings


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict, with a one-line error for a missing or malformed file."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; check the path") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML ({e}); fix the syntax") from None


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


def load_settings(root: Path, extra_file: Path | None = None, assignments: tuple[str, ...] = ()) -> Settings:
    """Settings for a session rooted at `root` (where pyproject.toml lives, if it does)."""
    data: dict[str, Any] = {}
    where = "[tool.benchharness]"
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        data = read_toml(pyproject).get("tool", {}).get("benchharness", {})
        where = f"{pyproject.name} [tool.benchharness]"
    if extra_file is not None:
        data = deep_merge(data, read_toml(extra_file))
        where = f"{where} + {extra_file.name}"
    for text in assignments:
        data = deep_merge(data, parse_assignment(text))
    return parse_settings(data, root, where)
