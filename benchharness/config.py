"""Typed settings from `[tool.benchharness]`, an optional extra TOML file and `--bench-set`.

Precedence, lowest first: built-in defaults, pyproject.toml `[tool.benchharness]`, the file given
with `--bench-config`, then `--bench-set key=value` pairs. Unknown keys and out-of-range values are
ConfigErrors that name the table, the key, the value and what is allowed: a typo in a gate name
must never silently disable the gate.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchharness.devices import DEVICES
from benchharness.errors import ConfigError
from benchharness.formats import FORMATS
from benchharness.gates import GateRule, default_rules, find_gate, names
from benchharness.profiles import HEADLINE, PROFILES, reference_window_s
from benchharness.readings import METRICS, base_name

INCONCLUSIVE_POLICIES = ("warn", "fail")
# Readings a suite may put a ceiling on (`[suites.NAME.limits]`): cold start, stated as intent.
LIMIT_METRICS = ("load_ms", "first_inference_ms", "ttft_ms")


@dataclass(frozen=True)
class Workload:
    """The generation workload timed for every case (llama-bench's pp/tg, with warm-up and rounds)."""

    prompt_tokens: int = 128
    gen_tokens: int = 64
    warmup_rounds: int = 1
    min_rounds: int = 5
    max_rounds: int = 50
    min_time_s: float = 3.0
    # Context depths (tokens already in the KV cache before the prompt), llama-bench's -d. The first
    # is the headline: its metrics carry the plain names gates and baselines use; every other depth
    # adds the same metrics suffixed "@d<depth>".
    depths: tuple[int, ...] = (0,)
    # Named deployment shapes timed beside the headline (profiles.py): the first, "short", is today's
    # prompt_tokens + gen_tokens above and carries the plain names gates and baselines judge; each other
    # profile's figures carry its own suffix ("ttft_ms@long-prompt", "decode_tok_per_s@chat-t2").
    profiles: tuple[str, ...] = ("short",)
    long_prompt_tokens: int = 2048  # long-prompt: a summariser's prompt from the accuracy corpus ...
    long_gen_tokens: int = 128  # ... and its generated summary
    chat_turns: int = 4  # chat: turns of one conversation, the KV cache kept between them
    chat_turn_tokens: int = 64  # the user's message per turn (each reply is gen_tokens long)
    ttft_sweep: tuple[int, ...] = (64, 256, 1024)  # ttft-sweep: prompt lengths whose TTFT is timed
    sustained_s: float = 300.0  # sustained: how long the case runs back to back
    sustained_interval_s: float = 10.0  # ... and the interval its throughput is read over


@dataclass(frozen=True)
class AccuracySettings:
    """The next-token task: `windows` windows of `n_ctx` tokens, the second half of each scored."""

    n_ctx: int = 512
    windows: int = 12


@dataclass(frozen=True)
class BaselineSettings:
    """Regression = worse than the baseline by more than `min_effect` (relative) *and* significant.

    Significance is a one-sided Mann-Whitney U test on the round samples at `alpha` (asv uses 0.002).
    `metrics` names the figures compared (None: every tracked one); a suite on a noisy host can gate
    decode throughput and memory and leave a 30 ms TTFT, which drifts by a third there, out.

    Deterministic figures (accuracy, KL, file size: a re-run reproduces them) have no rounds to test:
    they regress when worse by more than `deterministic_tolerance` (relative) and by more than twice
    their own standard error where they carry one. `max_outside_load` is the share of the machine's CPUs
    that work the case did not cause may keep busy in its timed region before a saved baseline is
    flagged as recorded under load.

    Rounds share one child, so passing that test says the two children differ, not the two runs. The
    run is the unit of replication between runs: a change is called only when the same machine's other
    runs of the figure (its history, more children) show it is past the between-run spread too
    (stats.run_shift). Where fewer than stats.MIN_REPLICATES runs are known, only a figure that moved
    by more than `run_factor` times (throughput -33%, latency +50% at 1.5) is called; a smaller move is
    "not decided".
    """

    min_effect: float = 0.05
    alpha: float = 0.002
    metrics: tuple[str, ...] | None = None
    deterministic_tolerance: float = 0.05
    max_outside_load: float = 0.20
    run_factor: float = 1.5

    def compares(self, metric: str) -> bool:
        return self.metrics is None or base_name(metric) in self.metrics


@dataclass(frozen=True)
class TrialSettings:
    """How variants are measured against their reference: pairs, budget, confirmation.

    `pairs` alternating rounds (A-B-B-A) per paired child; while a gate is inconclusive the session
    buys another child of `pairs` more, up to `max_pairs` in all (Pinpoint's rule). A failure or
    regression is re-measured `confirm` times in a fresh child before the case fails.
    """

    pairs: int = 6
    max_pairs: int = 24
    confidence: float = 0.95
    confirm: int = 1
    cooldown_s: float = 0.0


@dataclass(frozen=True)
class VariantSource:
    """Where a user-declared variant comes from: a file, or a recipe applied to another variant.

    `quantize = "Q4_K_M"` is short for `recipe = "llama-quantize", ftype = "Q4_K_M"`. A recipe's
    parameters are kept as TOML gave them: the registry checks them against the recipe's declaration
    (models/recipes.py), which config does not know.
    """

    path: Path | None = None
    quantize: str | None = None
    base: str | None = None  # label of the variant it is made from; None: the reference of the format it reads
    format: str | None = None  # None: read off the file's suffix (.gguf, .onnx, .xml), or what the recipe writes
    recipe: str | None = None
    params: tuple[tuple[str, object], ...] = ()  # the recipe's parameters as declared
    root: Path | None = None  # the folder of the file that declares it: where a file parameter's path starts


@dataclass(frozen=True)
class DataSource:
    """A team's own evaluation data for one model (`[tool.benchharness.models.NAME.data]`), paths resolved.

    Empty: the built-in data (CPython's pydoc topics). The files are read, checked and hashed at
    start-up by benchharness/evaldata.py, so a bad file stops the session before anything is built.
    """

    text: tuple[Path, ...] = ()  # prose for next-token top-1, perplexity and KL (causal LMs)
    retrieval: Path | None = None  # JSONL of {"query": ..., "positive": ...} lines (encoders)
    prompts: Path | None = None  # JSONL of {"prompt": ..., "answer": ...} lines, greedy exact match (causal LMs)
    classification: Path | None = None  # CSV or JSONL of feature vectors and integer labels (classifiers)


@dataclass(frozen=True)
class ModelConfig:
    """A model declared (or extended) in configuration instead of Python."""

    name: str
    reference: str | None
    variants: dict[str, VariantSource]
    # What the model does: causal-lm, encoder or classifier. None: read off a checkpoint source's
    # config.json (architectures), else causal-lm.
    kind: str | None = None
    source: Path | None = None  # a Hugging Face checkpoint folder every format's variants are made from
    data: DataSource = DataSource()


@dataclass(frozen=True)
class SuiteConfig:
    """One suite's matrix and gate policy (`[tool.benchharness.suites.NAME]`)."""

    name: str
    models: tuple[str, ...] | None = None  # None: every registered model the backends can load
    backends: tuple[str, ...] | None = None
    quants: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    gates: tuple[GateRule, ...] = field(default_factory=default_rules)
    workload: Workload | None = None  # None: the global [tool.benchharness.workload]
    accuracy: AccuracySettings | None = None  # None: the global [tool.benchharness.accuracy]
    inconclusive: str = "warn"  # what an inconclusive gate does to the case: warn (pass, shown) or fail
    strict_policy: bool = False  # a declared known breach that passes (XPASS) fails the case
    limits: dict[str, float] = field(default_factory=dict)  # ceilings on cold-start readings
    baseline: BaselineSettings | None = None  # None: the global [tool.benchharness.baseline]


PREFERENCES = ("speed", "size", "accuracy", "energy")
DEFAULT_PREFERENCE = ("speed", "size", "accuracy")


@dataclass(frozen=True)
class Target:
    """A deployment target (`[tool.benchharness.targets.NAME]`): a team's limits and what it prefers among what fits.

    Every limit is optional; None leaves that figure free. Sizes are bytes (TOML gives an integer or a
    human size such as "50 MiB"). `min_speed` is in the model kind's own speed metric (decode tok/s for
    a causal LM, items/s for the others); `min_accuracy_retained` is the accuracy_retained gate's ratio
    to the reference, `min_accuracy` the absolute accuracy the gate judges. `prefer` orders the choice
    among the configurations that meet every limit (report/targets.py says how noise breaks ties).
    """

    name: str
    max_model_bytes: float | None = None
    max_memory_bytes: float | None = None
    min_speed: float | None = None
    max_ttft_ms: float | None = None
    min_accuracy_retained: float | None = None
    min_accuracy: float | None = None
    backends: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    prefer: tuple[str, ...] = DEFAULT_PREFERENCE


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
    trials: TrialSettings = TrialSettings()
    models: tuple[ModelConfig, ...] = ()
    suites: dict[str, SuiteConfig] = field(default_factory=dict)
    estimate_cpu_tdp_w: float | None = None  # [energy] estimate_cpu_tdp_w: an estimate where no counter exists
    targets: dict[str, Target] = field(default_factory=dict)  # deployment targets: what to ship where


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
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in {low}..{high}"
        raise ConfigError(f"{where} = {value!r} is out of range; it must be {bounds}")


def _names(table: _Table, key: str, empty_ok: bool = False) -> tuple[str, ...] | None:
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


def _suite_devices(t: _Table) -> tuple[str, ...] | None:
    devices = _names(t, "devices")
    for device in devices or ():
        if device not in DEVICES:
            raise ConfigError(f"{t.where}.devices names {device!r}, not a device kind; valid: {', '.join(DEVICES)}")
    return devices


def _parse_workload(t: _Table, base: Workload) -> Workload:
    w = Workload(
        prompt_tokens=t.take("prompt_tokens", int, base.prompt_tokens),
        gen_tokens=t.take("gen_tokens", int, base.gen_tokens),
        warmup_rounds=t.take("warmup_rounds", int, base.warmup_rounds),
        min_rounds=t.take("min_rounds", int, base.min_rounds),
        max_rounds=t.take("max_rounds", int, base.max_rounds),
        min_time_s=t.take("min_time_s", float, base.min_time_s),
        depths=_depths(t, base.depths),
        profiles=_profiles(t, base.profiles),
        long_prompt_tokens=t.take("long_prompt_tokens", int, base.long_prompt_tokens),
        long_gen_tokens=t.take("long_gen_tokens", int, base.long_gen_tokens),
        chat_turns=t.take("chat_turns", int, base.chat_turns),
        chat_turn_tokens=t.take("chat_turn_tokens", int, base.chat_turn_tokens),
        ttft_sweep=_token_counts(t, "ttft_sweep", base.ttft_sweep),
        sustained_s=t.take("sustained_s", float, base.sustained_s),
        sustained_interval_s=t.take("sustained_interval_s", float, base.sustained_interval_s),
    )
    t.finish()
    _in_range(f"{t.where}.long_prompt_tokens", w.long_prompt_tokens, 1, 131072)
    _in_range(f"{t.where}.long_gen_tokens", w.long_gen_tokens, 1, 32768)
    _in_range(f"{t.where}.chat_turns", w.chat_turns, 2, 100)
    _in_range(f"{t.where}.chat_turn_tokens", w.chat_turn_tokens, 1, 32768)
    _in_range(f"{t.where}.sustained_s", w.sustained_s, 4.0, 86400.0)
    window = reference_window_s(w.sustained_s)
    if not 0.1 <= w.sustained_interval_s <= window:
        raise ConfigError(
            f"{t.where}.sustained_interval_s = {w.sustained_interval_s!r} must be in 0.1..{window:g}: the first "
            f"{window:g} s of a {w.sustained_s:g} s run are the reference the drop is read against and must hold "
            f"at least one interval; lower sustained_interval_s or raise sustained_s"
        )
    _in_range(f"{t.where}.prompt_tokens", w.prompt_tokens, 1, 32768)
    _in_range(f"{t.where}.gen_tokens", w.gen_tokens, 1, 32768)
    _in_range(f"{t.where}.warmup_rounds", w.warmup_rounds, 0, 100)
    _in_range(f"{t.where}.min_rounds", w.min_rounds, 1, 10000)
    _in_range(f"{t.where}.max_rounds", w.max_rounds, w.min_rounds, 100000)
    _in_range(f"{t.where}.min_time_s", w.min_time_s, 0.0, 3600.0)
    return w


def _depths(t: _Table, default: tuple[int, ...]) -> tuple[int, ...]:
    value = t.take("depths", list, None)
    if value is None:
        return default
    where = f"{t.where}.depths"
    if not value or not all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        raise ConfigError(f"{where} = {value!r} must be a non-empty list of token counts, e.g. [0, 512, 2048]")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where} = {value!r} lists a depth twice; list each depth once")
    for depth in value:
        _in_range(where, depth, 0, 131072)
    return tuple(value)


def _profiles(t: _Table, default: tuple[str, ...]) -> tuple[str, ...]:
    value = _names(t, "profiles")
    if value is None:
        return default
    where = f"{t.where}.profiles"
    for name in value:
        if name not in PROFILES:
            raise ConfigError(f"{where} names {name!r}, not a workload profile; valid: {', '.join(PROFILES)}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where} = {list(value)!r} lists a profile twice; list each profile once")
    if value[0] != HEADLINE:
        raise ConfigError(
            f"{where} = {list(value)!r} starts with {value[0]!r}; the first profile is the headline the gates and "
            f"baselines judge and must be {HEADLINE!r} (prompt_tokens + gen_tokens): list {HEADLINE!r} first"
        )
    return value


def _token_counts(t: _Table, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
    value = t.take(key, list, None)
    if value is None:
        return default
    where = f"{t.where}.{key}"
    if not value or not all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        raise ConfigError(f"{where} = {value!r} must be a non-empty list of token counts, e.g. [64, 256, 1024]")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where} = {value!r} lists a length twice; list each length once")
    for count in value:
        _in_range(where, count, 1, 131072)
    return tuple(value)


def _parse_accuracy(t: _Table, base: AccuracySettings) -> AccuracySettings:
    a = AccuracySettings(n_ctx=t.take("n_ctx", int, base.n_ctx), windows=t.take("windows", int, base.windows))
    t.finish()
    _in_range(f"{t.where}.n_ctx", a.n_ctx, 16, 32768)
    _in_range(f"{t.where}.windows", a.windows, 1, 10000)
    return a


def _parse_gates(t: _Table) -> tuple[GateRule, ...]:
    rules: dict[str, GateRule] = {r.name: r for r in default_rules()}
    for name in list(t.data):
        gate = find_gate(name)
        if gate is None:
            raise ConfigError(f"{t.where}: unknown gate {name!r}; valid gates: {', '.join(sorted(names()))}")
        spec = t.data.pop(name)
        if spec is False or spec == "off":
            rules.pop(name, None)
            continue
        g = _Table(spec, f"{t.where}.{name}")
        minimum = g.take("min", float, gate.default_minimum)
        quants = _names(g, "quants")
        known = _names(g, "known_breaches", empty_ok=True) or ()
        figure = g.take("figure", str) if gate.figures else None
        if figure is not None and figure not in gate.figures:
            raise ConfigError(f"{g.where}.figure = {figure!r} is unknown; valid: {', '.join(gate.figures)}")
        if "borderline" in g.data:
            raise ConfigError(
                f"{g.where}.borderline is no longer a setting: each gate now reports an interval and says "
                "'inconclusive' when it straddles the threshold; delete the key"
            )
        g.finish()
        _in_range(f"{g.where}.min", minimum, 0.0, gate.upper_bound)
        rules[name] = GateRule(name, minimum, quants, known, gate.figures[figure] if figure else None)
    t.finish()
    return tuple(rules.values())


def _parse_baseline(t: _Table, base: BaselineSettings) -> BaselineSettings:
    if "noise_k" in t.data:
        raise ConfigError(
            f"{t.where}.noise_k is no longer a setting: regressions are decided by min_effect and a "
            "Mann-Whitney test at alpha (default 0.002); delete the key"
        )
    metrics = _names(t, "metrics", empty_ok=True)
    b = BaselineSettings(
        min_effect=t.take("min_effect", float, base.min_effect),
        alpha=t.take("alpha", float, base.alpha),
        metrics=base.metrics if metrics is None else metrics,
        deterministic_tolerance=t.take("deterministic_tolerance", float, base.deterministic_tolerance),
        max_outside_load=t.take("max_outside_load", float, base.max_outside_load),
        run_factor=t.take("run_factor", float, base.run_factor),
    )
    t.finish()
    _in_range(f"{t.where}.min_effect", b.min_effect, 0.0, 10.0)
    _in_range(f"{t.where}.deterministic_tolerance", b.deterministic_tolerance, 0.0, 10.0)
    _in_range(f"{t.where}.max_outside_load", b.max_outside_load, 0.0, 1.0)
    _in_range(f"{t.where}.alpha", b.alpha, 1e-9, 0.5)
    _in_range(f"{t.where}.run_factor", b.run_factor, 1.0, 100.0)
    tracked = sorted(name for name, spec in METRICS.items() if spec.tracked and spec.better != "neither")
    for name in metrics or ():
        if name not in tracked:
            raise ConfigError(f"{t.where}.metrics names {name!r}, not a tracked metric; valid: {', '.join(tracked)}")
    if metrics == ():
        raise ConfigError(
            f"{t.where}.metrics = [] compares nothing; list metrics, or use --no-baseline to compare none"
        )
    return b


def _parse_limits(t: _Table) -> dict[str, float]:
    limits = {}
    for metric in list(t.data):
        if metric not in LIMIT_METRICS:
            raise ConfigError(f"{t.where}: unknown limit {metric!r}; valid: {', '.join(LIMIT_METRICS)}")
        limits[metric] = t.take(metric, float)
        _in_range(f"{t.where}.{metric}", limits[metric], 0.0)
    t.finish()
    return limits


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
            recipe = v.take("recipe", str)
            base = v.take("from", str)
            fmt = v.take("format", str)
            params: dict[str, object] = {}
            if recipe is not None:  # every other key is the recipe's parameter, checked by the registry
                params, v.data = v.data, {}
            v.finish()
            if fmt is not None and fmt not in FORMATS:
                raise ConfigError(f"{where}.format = {fmt!r} is unknown; valid: {', '.join(FORMATS)}")
            if sum(x is not None for x in (path, quantize, recipe)) != 1:
                raise ConfigError(
                    f"{where}: give exactly one of path = 'file.gguf', quantize = 'Q4_0' or "
                    "recipe = 'nncf-weight-compression' (with its parameters; see the README's recipe table)"
                )
            if path is not None and base is not None:
                raise ConfigError(
                    f"{where}: from = {base!r} names what a recipe starts from; a file has none, remove it"
                )
            for key, value in params.items():
                if not isinstance(value, str | int | float | bool):
                    raise ConfigError(
                        f"{where}.{key} = {value!r} must be a string, number or true/false (a recipe parameter)"
                    )
            variants[label] = VariantSource(
                path=_path(root, path) if path else None,
                quantize=quantize,
                base=base,
                format=fmt,
                recipe=recipe,
                params=tuple(params.items()),
                root=root,
            )
        kind = m.take("kind", str)  # checked against benchharness.kinds by the registry
        source = m.take("source", str)
        data = _parse_data(m.sub("data"), root)
        m.finish()
        models.append(
            ModelConfig(
                name=name,
                reference=reference,
                variants=variants,
                kind=kind,
                source=_path(root, source) if source is not None else None,
                data=data,
            )
        )
    return tuple(models)


def _path(root: Path, text: str) -> Path:
    """A path as written in a config file, relative to the folder of the file that declares it."""
    return root / Path(text).expanduser()


def _parse_data(t: _Table, root: Path) -> DataSource:
    """`[models.NAME.data]`: `text` (a file or a list of files), `retrieval`, `prompts` and `classification` (files)."""
    declared = "text" in t.data
    raw_text = t.take("text", object, [])
    text = [raw_text] if isinstance(raw_text, str) else raw_text
    if declared and (not isinstance(text, list) or not text or not all(isinstance(v, str) and v for v in text)):
        raise ConfigError(
            f"{t.where}.text = {raw_text!r} must name a text file or a non-empty list of them, e.g. 'eval/corpus.txt'"
        )
    files = {key: t.take(key, str) for key in ("retrieval", "prompts", "classification")}
    t.finish()
    resolved = {key: _path(root, value) if value is not None else None for key, value in files.items()}
    return DataSource(text=tuple(_path(root, v) for v in text), **resolved)


def _parse_suites(
    t: _Table, workload: Workload, accuracy: AccuracySettings, baseline: BaselineSettings
) -> dict[str, SuiteConfig]:
    suites: dict[str, SuiteConfig] = {}
    for name in list(t.data):
        s = _Table(t.data.pop(name), f"{t.where}.{name}")
        own_workload = "workload" in s.data
        own_accuracy = "accuracy" in s.data
        own_baseline = "baseline" in s.data
        suite_baseline = _parse_baseline(s.sub("baseline"), baseline)
        suite_workload = _parse_workload(s.sub("workload"), workload)
        suite_accuracy = _parse_accuracy(s.sub("accuracy"), accuracy)
        suite = SuiteConfig(
            name=name,
            models=_names(s, "models"),
            backends=_names(s, "backends"),
            quants=_names(s, "quants"),
            devices=_suite_devices(s),
            gates=_parse_gates(s.sub("gates")),
            workload=suite_workload if own_workload else None,
            accuracy=suite_accuracy if own_accuracy else None,
            inconclusive=s.take("inconclusive", str, "warn"),
            strict_policy=s.take("strict_policy", bool, False),
            limits=_parse_limits(s.sub("limits")),
            baseline=suite_baseline if own_baseline else None,
        )
        s.finish()
        if suite.inconclusive not in INCONCLUSIVE_POLICIES:
            raise ConfigError(
                f"{s.where}.inconclusive = {suite.inconclusive!r} is unknown; valid: {', '.join(INCONCLUSIVE_POLICIES)}"
            )
        suites[name] = suite
    return suites


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)\s*$", re.IGNORECASE)
_SIZE_FACTORS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_SIZE_FACTORS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(where: str, value: object) -> float:
    """A byte count: an integer, or a string with its unit ("50 MiB" = 50 x 2**20, "1 GB" = 10**9).

    A bare number in a string is refused: "50" could mean bytes or megabytes, and a phone budget read
    as 50 bytes rules out everything without saying why.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        _in_range(where, value, 1)
        return float(value)
    if isinstance(value, str) and (match := _SIZE.match(value)) and float(match.group(1)) > 0:
        return float(match.group(1)) * _SIZE_FACTORS[match.group(2).lower()]
    raise ConfigError(
        f"{where} = {value!r} is not a size; write a byte count (52428800) or a number with its unit "
        '("50 MiB", "1 GB"; KiB/MiB/GiB are powers of 2, kB/MB/GB powers of 10)'
    )


def _parse_targets(t: _Table) -> dict[str, Target]:
    """`[targets.NAME]` tables: each limit checked for its type and range, names of devices and preferences known."""
    targets: dict[str, Target] = {}
    for name in list(t.data):
        g = _Table(t.data.pop(name), f"{t.where}.{name}")
        sizes = {key: g.take(key, object) for key in ("max_model_bytes", "max_memory_bytes")}
        figures = {
            key: g.take(key, float) for key in ("min_speed", "max_ttft_ms", "min_accuracy_retained", "min_accuracy")
        }
        backends = _names(g, "backends")
        devices = _suite_devices(g)
        prefer = _names(g, "prefer") or DEFAULT_PREFERENCE
        g.finish()
        for key in ("min_speed", "max_ttft_ms"):
            if figures[key] is not None:
                _in_range(f"{g.where}.{key}", figures[key], 0.0)
        for key in ("min_accuracy_retained", "min_accuracy"):
            if figures[key] is not None:
                _in_range(f"{g.where}.{key}", figures[key], 0.0, 1.0)
        for wish in prefer:
            if wish not in PREFERENCES:
                raise ConfigError(f"{g.where}.prefer names {wish!r}, not a preference; valid: {', '.join(PREFERENCES)}")
        known = _backend_names()
        for backend in backends or ():
            if backend not in known:
                raise ConfigError(f"{g.where}.backends names {backend!r}, not a backend; valid: {', '.join(known)}")
        if len(set(prefer)) != len(prefer):
            raise ConfigError(f"{g.where}.prefer = {list(prefer)!r} lists a preference twice; list each once")
        targets[name] = Target(
            name=name,
            **{key: None if v is None else parse_size(f"{g.where}.{key}", v) for key, v in sizes.items()},
            **figures,
            backends=backends,
            devices=devices,
            prefer=prefer,
        )
    t.finish()
    return targets


def _backend_names() -> list[str]:
    """The registered backends (built-ins and entry points); imported here, late, as the registry imports models."""
    from benchharness.backends import registry

    return sorted(registry())


def parse_targets(data: Any, where: str = "[tool.benchharness].targets") -> dict[str, Target]:
    """The `targets` table alone: what `benchharness recommend` reads from a configuration file."""
    return _parse_targets(_Table({} if data is None else data, where))


def parse_settings(data: Mapping[str, Any], root: Path, where: str = "[tool.benchharness]") -> Settings:
    """Validate a merged `[tool.benchharness]` table into Settings (paths relative to `root`)."""
    t = _Table(data, where)
    threads = t.take("threads", int, 0)
    _in_range(f"{where}.threads", threads, 0, 1024)
    cache_dir = t.take("cache_dir", str)
    timeout = t.take("case_timeout_s", float, 900.0)
    _in_range(f"{where}.case_timeout_s", timeout, 1.0, 86400.0)
    baseline = _parse_baseline(t.sub("baseline"), BaselineSettings())
    trials_t = t.sub("trials")
    trials = TrialSettings(
        pairs=trials_t.take("pairs", int, 6),
        max_pairs=trials_t.take("max_pairs", int, 24),
        confidence=trials_t.take("confidence", float, 0.95),
        confirm=trials_t.take("confirm", int, 1),
        cooldown_s=trials_t.take("cooldown_s", float, 0.0),
    )
    trials_t.finish()
    _in_range(f"{trials_t.where}.pairs", trials.pairs, 2, 1000)
    _in_range(f"{trials_t.where}.max_pairs", trials.max_pairs, trials.pairs, 100000)
    _in_range(f"{trials_t.where}.confidence", trials.confidence, 0.5, 0.999)
    _in_range(f"{trials_t.where}.confirm", trials.confirm, 0, 10)
    _in_range(f"{trials_t.where}.cooldown_s", trials.cooldown_s, 0.0, 3600.0)
    energy_t = t.sub("energy")
    tdp = energy_t.take("estimate_cpu_tdp_w", float)
    energy_t.finish()
    if tdp is not None:
        _in_range(f"{energy_t.where}.estimate_cpu_tdp_w", tdp, 1.0, 2000.0)
    workload = _parse_workload(t.sub("workload"), Workload())
    accuracy = _parse_accuracy(t.sub("accuracy"), AccuracySettings())
    settings = Settings(
        root=root,
        threads=threads,
        cache_dir=root / Path(cache_dir).expanduser() if cache_dir else default_cache_dir(),  # like results_dir
        results_dir=root / t.take("results_dir", str, "reports"),
        baselines_dir=root / t.take("baselines_dir", str, "baselines"),
        case_timeout_s=timeout,
        workload=workload,
        accuracy=accuracy,
        baseline=baseline,
        trials=trials,
        models=_parse_models(t.sub("models"), root),
        suites=_parse_suites(t.sub("suites"), workload, accuracy, baseline),
        estimate_cpu_tdp_w=tdp,
        targets=_parse_targets(t.sub("targets")),
    )
    t.finish()
    _sustained_fits(settings)
    return settings


def _sustained_fits(settings: Settings) -> None:
    """A sustained run that outlasts the case's timeout would be killed minutes in: refused at start-up instead."""
    tables = [("[tool.benchharness].workload", settings.workload)]
    tables += [
        (f"[tool.benchharness].suites.{s.name}.workload", s.workload) for s in settings.suites.values() if s.workload
    ]
    for where, workload in tables:
        if "sustained" in workload.profiles and workload.sustained_s >= settings.case_timeout_s:
            raise ConfigError(
                f"{where}.sustained_s = {workload.sustained_s:g} would outlast case_timeout_s = "
                f"{settings.case_timeout_s:g}, which kills the case's child; raise case_timeout_s above sustained_s "
                "plus the case's load, rounds and scoring (a few minutes), or shorten sustained_s"
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


PATH_KEYS = ("cache_dir", "results_dir", "baselines_dir")


def rebase_paths(data: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """A settings file's relative paths made absolute against the file's own folder.

    A `--bench-config` file kept in another folder names its model files as seen from there; read
    against the project root they would point elsewhere and be found missing only at run time.
    Values of the wrong type are left alone for `parse_settings` to refuse with the key's name.
    """
    folder = folder.expanduser().absolute()

    def rebase(value: Any) -> Any:
        if isinstance(value, str) and value:
            return str(folder / Path(value).expanduser())  # an absolute path stays as it is
        if isinstance(value, list):  # e.g. data.text = ["a.txt", "b.txt"]
            return [rebase(v) for v in value]
        return value

    rebased = dict(data)
    for key in PATH_KEYS:
        if key in rebased:
            rebased[key] = rebase(rebased[key])
    models = rebased.get("models")
    if isinstance(models, Mapping):
        rebased["models"] = {name: _rebase_model(model, rebase) for name, model in models.items()}
    return rebased


def _rebase_model(model: Any, rebase: Callable[[Any], Any]) -> Any:
    """A model table's paths: its checkpoint `source`, its `data` files and its variant files."""
    if not isinstance(model, Mapping):
        return model
    rebased = dict(model)
    if "source" in rebased:
        rebased["source"] = rebase(rebased["source"])
    if isinstance(rebased.get("data"), Mapping):
        rebased["data"] = {key: rebase(value) for key, value in rebased["data"].items()}
    if isinstance(rebased.get("variants"), Mapping):
        variants = {}
        for label, spec in rebased["variants"].items():
            if isinstance(spec, str):
                spec = rebase(spec)
            elif isinstance(spec, Mapping) and "path" in spec:
                spec = {**spec, "path": rebase(spec["path"])}
            variants[label] = spec
        rebased["variants"] = variants
    return rebased


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
        extra = read_toml(extra_file)
        # The same keys as [tool.benchharness]; a table copied from pyproject.toml keeps its header.
        if set(extra) == {"tool"} and isinstance(extra["tool"], Mapping) and set(extra["tool"]) == {"benchharness"}:
            extra = extra["tool"]["benchharness"]
        data = deep_merge(data, rebase_paths(extra, extra_file.parent))
        where = f"{where} + {extra_file.name}"
    settings = parse_settings(data, root, where)
    if not assignments:
        return settings
    given: dict[str, str] = {}
    for text in assignments:
        nested = parse_assignment(text)
        key = text.partition("=")[0].strip()
        if key in given:
            raise ConfigError(f"--bench-set {key} is given twice ({given[key]!r} and {text!r}); give each setting once")
        given[key] = text
        data = deep_merge(data, nested)
    return parse_settings(data, root, "--bench-set")  # the files parsed cleanly: the error is in an assignment


# ---------------------------------------------------------------------------------------------
# The command line: parsed here with the other settings, so the session never sees raw strings.


@dataclass(frozen=True)
class Filters:
    """Command-line filters; None means 'no filter'."""

    models: tuple[str, ...] | None = None
    quants: tuple[str, ...] | None = None
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
        _in_range(f"--gate {name}", minimum, 0.0, gate.upper_bound)
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
