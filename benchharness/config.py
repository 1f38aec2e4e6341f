"""Settings from `[tool.benchharness]`, an optional extra TOML file and `--bench-set`, read into the frozen types.

Precedence, lowest first: the types' defaults (settings.py), pyproject.toml `[tool.benchharness]`,
the file given with `--bench-config`, then `--bench-set key=value` pairs. Unknown keys and
out-of-range values are ConfigErrors that name the table, the key, the value and what is allowed
(toml_table.Table): a typo in a gate name must never silently disable the gate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchharness.devices import DEVICES
from benchharness.errors import ConfigError
from benchharness.formats import FORMATS
from benchharness.gates import GateRule, default_rules, find_gate, names
from benchharness.profiles import HEADLINE, PROFILES, reference_window_s
from benchharness.readings import METRICS
from benchharness.settings import (
    DEFAULT_PREFERENCE,
    INCONCLUSIVE_POLICIES,
    LIMIT_METRICS,
    PREFERENCES,
    AccuracySettings,
    BaselineSettings,
    DataSource,
    ModelConfig,
    Settings,
    SuiteConfig,
    Target,
    TrialSettings,
    VariantSource,
    Workload,
    default_cache_dir,
)
from benchharness.toml_table import Table, deep_merge, in_range, name_list, parse_assignment, parse_size, read_toml


def _suite_devices(t: Table) -> tuple[str, ...] | None:
    devices = name_list(t, "devices")
    for device in devices or ():
        if device not in DEVICES:
            raise ConfigError(f"{t.where}.devices names {device!r}, not a device type; valid: {', '.join(DEVICES)}")
    return devices


def _parse_workload(t: Table, base: Workload) -> Workload:
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
    in_range(f"{t.where}.long_prompt_tokens", w.long_prompt_tokens, 1, 131072)
    in_range(f"{t.where}.long_gen_tokens", w.long_gen_tokens, 1, 32768)
    in_range(f"{t.where}.chat_turns", w.chat_turns, 2, 100)
    in_range(f"{t.where}.chat_turn_tokens", w.chat_turn_tokens, 1, 32768)
    in_range(f"{t.where}.sustained_s", w.sustained_s, 4.0, 86400.0)
    window = reference_window_s(w.sustained_s)
    if not 0.1 <= w.sustained_interval_s <= window:
        raise ConfigError(
            f"{t.where}.sustained_interval_s = {w.sustained_interval_s!r} must be in 0.1..{window:g}: the first "
            f"{window:g} s of a {w.sustained_s:g} s run are the reference the drop is read against and must hold "
            f"at least one interval; lower sustained_interval_s or raise sustained_s"
        )
    in_range(f"{t.where}.prompt_tokens", w.prompt_tokens, 1, 32768)
    in_range(f"{t.where}.gen_tokens", w.gen_tokens, 1, 32768)
    in_range(f"{t.where}.warmup_rounds", w.warmup_rounds, 0, 100)
    in_range(f"{t.where}.min_rounds", w.min_rounds, 1, 10000)
    in_range(f"{t.where}.max_rounds", w.max_rounds, w.min_rounds, 100000)
    in_range(f"{t.where}.min_time_s", w.min_time_s, 0.0, 3600.0)
    return w


def _depths(t: Table, default: tuple[int, ...]) -> tuple[int, ...]:
    value = t.take("depths", list, None)
    if value is None:
        return default
    where = f"{t.where}.depths"
    if not value or not all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        raise ConfigError(f"{where} = {value!r} must be a non-empty list of token counts, e.g. [0, 512, 2048]")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where} = {value!r} lists a depth twice; list each depth once")
    for depth in value:
        in_range(where, depth, 0, 131072)
    return tuple(value)


def _profiles(t: Table, default: tuple[str, ...]) -> tuple[str, ...]:
    value = name_list(t, "profiles")
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


def _token_counts(t: Table, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
    value = t.take(key, list, None)
    if value is None:
        return default
    where = f"{t.where}.{key}"
    if not value or not all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        raise ConfigError(f"{where} = {value!r} must be a non-empty list of token counts, e.g. [64, 256, 1024]")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where} = {value!r} lists a length twice; list each length once")
    for count in value:
        in_range(where, count, 1, 131072)
    return tuple(value)


def _parse_accuracy(t: Table, base: AccuracySettings) -> AccuracySettings:
    a = AccuracySettings(n_ctx=t.take("n_ctx", int, base.n_ctx), windows=t.take("windows", int, base.windows))
    t.finish()
    in_range(f"{t.where}.n_ctx", a.n_ctx, 16, 32768)
    in_range(f"{t.where}.windows", a.windows, 1, 10000)
    return a


def _parse_gates(t: Table) -> tuple[GateRule, ...]:
    rules: dict[str, GateRule] = {r.name: r for r in default_rules()}
    for name in list(t.data):
        gate = find_gate(name)
        if gate is None:
            raise ConfigError(f"{t.where}: unknown gate {name!r}; valid gates: {', '.join(sorted(names()))}")
        spec = t.data.pop(name)
        if spec is False or spec == "off":
            rules.pop(name, None)
            continue
        g = Table(spec, f"{t.where}.{name}")
        minimum = g.take("min", float, gate.default_minimum)
        g.renamed("quants", "variants")
        variants = name_list(g, "variants")
        known = name_list(g, "known_breaches", empty_ok=True) or ()
        figure = g.take("figure", str) if gate.figures else None
        if figure is not None and figure not in gate.figures:
            raise ConfigError(f"{g.where}.figure = {figure!r} is unknown; valid: {', '.join(gate.figures)}")
        if "borderline" in g.data:
            raise ConfigError(
                f"{g.where}.borderline is no longer a setting: each gate now reports an interval and says "
                "'inconclusive' when it straddles the threshold; delete the key"
            )
        g.finish()
        in_range(f"{g.where}.min", minimum, 0.0, gate.upper_bound)
        rules[name] = GateRule(name, minimum, variants, known, gate.figures[figure] if figure else None)
    t.finish()
    return tuple(rules.values())


def _parse_baseline(t: Table, base: BaselineSettings) -> BaselineSettings:
    if "noise_k" in t.data:
        raise ConfigError(
            f"{t.where}.noise_k is no longer a setting: regressions are decided by min_effect and a "
            "Mann-Whitney test at alpha (default 0.002); delete the key"
        )
    metrics = name_list(t, "metrics", empty_ok=True)
    b = BaselineSettings(
        min_effect=t.take("min_effect", float, base.min_effect),
        alpha=t.take("alpha", float, base.alpha),
        metrics=base.metrics if metrics is None else metrics,
        deterministic_tolerance=t.take("deterministic_tolerance", float, base.deterministic_tolerance),
        max_outside_load=t.take("max_outside_load", float, base.max_outside_load),
        run_factor=t.take("run_factor", float, base.run_factor),
    )
    t.finish()
    in_range(f"{t.where}.min_effect", b.min_effect, 0.0, 10.0)
    in_range(f"{t.where}.deterministic_tolerance", b.deterministic_tolerance, 0.0, 10.0)
    in_range(f"{t.where}.max_outside_load", b.max_outside_load, 0.0, 1.0)
    in_range(f"{t.where}.alpha", b.alpha, 1e-9, 0.5)
    in_range(f"{t.where}.run_factor", b.run_factor, 1.0, 100.0)
    tracked = sorted(name for name, spec in METRICS.items() if spec.tracked and spec.better != "neither")
    for name in metrics or ():
        if name not in tracked:
            raise ConfigError(f"{t.where}.metrics names {name!r}, not a tracked metric; valid: {', '.join(tracked)}")
    if metrics == ():
        raise ConfigError(
            f"{t.where}.metrics = [] compares nothing; list metrics, or use --no-baseline to compare none"
        )
    return b


def _parse_limits(t: Table) -> dict[str, float]:
    limits = {}
    for metric in list(t.data):
        if metric not in LIMIT_METRICS:
            raise ConfigError(f"{t.where}: unknown limit {metric!r}; valid: {', '.join(LIMIT_METRICS)}")
        limits[metric] = t.take(metric, float)
        in_range(f"{t.where}.{metric}", limits[metric], 0.0)
    t.finish()
    return limits


def _parse_models(t: Table, root: Path) -> tuple[ModelConfig, ...]:
    models: list[ModelConfig] = []
    for name in list(t.data):
        m = Table(t.data.pop(name), f"{t.where}.{name}")
        reference = m.take("reference", str)
        variants_table = m.sub("variants")
        variants: dict[str, VariantSource] = {}
        for label in list(variants_table.data):
            spec = variants_table.data.pop(label)
            where = f"{variants_table.where}.{label}"
            if isinstance(spec, str):
                spec = {"path": spec}
            v = Table(spec, where)
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


def _parse_data(t: Table, root: Path) -> DataSource:
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
    t: Table, workload: Workload, accuracy: AccuracySettings, baseline: BaselineSettings
) -> dict[str, SuiteConfig]:
    suites: dict[str, SuiteConfig] = {}
    for name in list(t.data):
        s = Table(t.data.pop(name), f"{t.where}.{name}")
        own_workload = "workload" in s.data
        own_accuracy = "accuracy" in s.data
        own_baseline = "baseline" in s.data
        suite_baseline = _parse_baseline(s.sub("baseline"), baseline)
        suite_workload = _parse_workload(s.sub("workload"), workload)
        suite_accuracy = _parse_accuracy(s.sub("accuracy"), accuracy)
        s.renamed("quants", "variants")
        default = SuiteConfig(name)  # the type's defaults, stated once (settings.py)
        suite = SuiteConfig(
            name=name,
            models=name_list(s, "models"),
            backends=name_list(s, "backends"),
            variants=name_list(s, "variants"),
            devices=_suite_devices(s),
            gates=_parse_gates(s.sub("gates")),
            workload=suite_workload if own_workload else None,
            accuracy=suite_accuracy if own_accuracy else None,
            inconclusive=s.take("inconclusive", str, default.inconclusive),
            strict_policy=s.take("strict_policy", bool, default.strict_policy),
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


def _parse_targets(t: Table) -> dict[str, Target]:
    """`[targets.NAME]` tables: each limit checked for its type and range, names of devices and preferences known."""
    targets: dict[str, Target] = {}
    for name in list(t.data):
        g = Table(t.data.pop(name), f"{t.where}.{name}")
        sizes = {key: g.take(key, object) for key in ("max_model_bytes", "max_memory_bytes")}
        figures = {
            key: g.take(key, float) for key in ("min_speed", "max_ttft_ms", "min_accuracy_retained", "min_accuracy")
        }
        backends = name_list(g, "backends")
        devices = _suite_devices(g)
        prefer = name_list(g, "prefer") or DEFAULT_PREFERENCE
        g.finish()
        for key in ("min_speed", "max_ttft_ms"):
            if figures[key] is not None:
                in_range(f"{g.where}.{key}", figures[key], 0.0)
        for key in ("min_accuracy_retained", "min_accuracy"):
            if figures[key] is not None:
                in_range(f"{g.where}.{key}", figures[key], 0.0, 1.0)
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
    return _parse_targets(Table({} if data is None else data, where))


def parse_settings(data: Mapping[str, Any], root: Path, where: str = "[tool.benchharness]") -> Settings:
    """Validate a merged `[tool.benchharness]` table into Settings (paths relative to `root`)."""
    t = Table(data, where)
    defaults = Settings(root=root)  # every default is the type's own (settings.py), stated once
    threads = t.take("threads", int, defaults.threads)
    in_range(f"{where}.threads", threads, 0, 1024)
    cache_dir = t.take("cache_dir", str)
    timeout = t.take("case_timeout_s", float, defaults.case_timeout_s)
    in_range(f"{where}.case_timeout_s", timeout, 1.0, 86400.0)
    baseline = _parse_baseline(t.sub("baseline"), BaselineSettings())
    trials_t = t.sub("trials")
    base = defaults.trials
    trials = TrialSettings(
        pairs=trials_t.take("pairs", int, base.pairs),
        max_pairs=trials_t.take("max_pairs", int, base.max_pairs),
        confidence=trials_t.take("confidence", float, base.confidence),
        confirm=trials_t.take("confirm", int, base.confirm),
        cooldown_s=trials_t.take("cooldown_s", float, base.cooldown_s),
    )
    trials_t.finish()
    in_range(f"{trials_t.where}.pairs", trials.pairs, 2, 1000)
    in_range(f"{trials_t.where}.max_pairs", trials.max_pairs, trials.pairs, 100000)
    in_range(f"{trials_t.where}.confidence", trials.confidence, 0.5, 0.999)
    in_range(f"{trials_t.where}.confirm", trials.confirm, 0, 10)
    in_range(f"{trials_t.where}.cooldown_s", trials.cooldown_s, 0.0, 3600.0)
    energy_t = t.sub("energy")
    tdp = energy_t.take("estimate_cpu_tdp_w", float)
    energy_t.finish()
    if tdp is not None:
        in_range(f"{energy_t.where}.estimate_cpu_tdp_w", tdp, 1.0, 2000.0)
    workload = _parse_workload(t.sub("workload"), Workload())
    accuracy = _parse_accuracy(t.sub("accuracy"), AccuracySettings())
    settings = Settings(
        root=root,
        threads=threads,
        cache_dir=root / Path(cache_dir).expanduser() if cache_dir else default_cache_dir(),  # like results_dir
        results_dir=root / t.take("results_dir", str, str(defaults.results_dir)),
        baselines_dir=root / t.take("baselines_dir", str, str(defaults.baselines_dir)),
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
