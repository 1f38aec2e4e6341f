"""Expand a suite into cases: (model, variant, backend, device), with readable ids and skip reasons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from benchharness.backends.base import Backend
from benchharness.cli_options import Filters
from benchharness.errors import ConfigError
from benchharness.gpus import split_device
from benchharness.models.recipes import RECIPES, missing_tools_for
from benchharness.models.registry import ModelDef
from benchharness.settings import SuiteConfig


@dataclass(frozen=True)
class Case:
    """One benchmark case; `skip_reason` is set when this machine cannot run it."""

    suite: str
    model: str
    variant: str  # the variant's label: q4_0, int8, fp32 (the reference is a variant too)
    backend: str
    device: str
    reference: str
    skip_reason: str | None = None
    format: str = "gguf"  # the variant family the backend loads
    kind: str = "causal-lm"  # the model's kind: causal-lm, encoder or classifier

    @property
    def id(self) -> str:
        return f"{self.model}-{self.variant}-{self.backend}-{self.device}"

    @property
    def key(self) -> str:
        """Unique within a session: two suites may hold a case with the same id but other settings."""
        return f"{self.suite}::{self.id}"

    @property
    def is_reference(self) -> bool:
        return self.variant == self.reference

    @property
    def reference_id(self) -> str:
        return f"{self.model}-{self.reference}-{self.backend}-{self.device}"

    @property
    def reference_key(self) -> str:
        """The key of this case's reference case (same suite, model, backend and device)."""
        return f"{self.suite}::{self.reference_id}"


def check_known(option: str, values: Sequence[str] | None, valid: Sequence[str]) -> None:
    """Unknown filter values are errors listing the valid ones (a typo must not silently select nothing)."""
    for value in values or ():
        if value not in valid:
            raise ConfigError(f"{option}: unknown value {value!r}; valid: {', '.join(sorted(valid))}")


def _ordered_variants(model: ModelDef, fmt: str, wanted: Sequence[str] | None) -> list[str]:
    available = model.labels(fmt)
    labels = available if wanted is None else [q for q in wanted if q in available]
    # The reference first, so later cases in the same session can be gated against it.
    return sorted(labels, key=lambda q: q != model.references[fmt])


def family_for(model: ModelDef, backend: Backend) -> str | None:
    """The format of `model` that `backend` runs: its first preference the model has, if any."""
    if model.kind not in backend.kinds:
        return None
    return next((fmt for fmt in backend.formats if fmt in model.formats), None)


def check_loadable(
    where: str, suite: SuiteConfig, models: Mapping[str, ModelDef], backends: Mapping[str, Backend]
) -> None:
    """A model or variant a suite names that none of its backends can load is a start-up error, not an
    empty matrix: each named model, each of its variants (on some named model), and the suite as a whole.

    Without this the suite collects nothing (or less than it names) and pytest exits 0 with
    'got empty parameter set'.
    """
    named = suite.backends or list(backends)
    for name in suite.models or ():
        model = models[name]
        if any(family_for(model, backends[b]) for b in named if b in backends):
            continue
        able = sorted(b for b, backend in backends.items() if family_for(model, backend))
        why = ""
        if model.source is not None and any("gguf" in backends[b].formats for b in named if b in backends):
            why = (
                f" (GGUF variants are made from causal-LM checkpoints only; {name} is kind = '{model.kind}':"
                " llama.cpp's converter writes no encoder or classifier this harness can score there)"
            )
        raise ConfigError(
            f"{where}: no backend in {', '.join(named)} can load model {name!r} ({model.kind}; formats: "
            f"{', '.join(model.formats)}){why}; backends that can: {', '.join(able) or 'none'}"
            f"{_makers(model, [backends[b] for b in named if b in backends])}"
        )
    selected = [models[m] for m in suite.models or models]
    loaded = [(m, fmt) for m in selected for b in named if b in backends and (fmt := family_for(m, backends[b]))]
    if not loaded:
        raise ConfigError(
            f"{where}: no backend in {', '.join(named)} can load any registered model; name backends that load "
            f"one ({', '.join(sorted(backends))}), or declare a model in a format they read"
        )
    for variant in suite.variants or ():
        if any(variant in m.labels(fmt) for m, fmt in loaded):
            continue
        holders = [(m, fmt) for m in selected for fmt in m.formats if variant in m.labels(fmt)]
        if not holders:
            continue  # a label no model has: check_known names it with the labels there are
        readers = sorted({b for b, backend in backends.items() for m, fmt in holders if family_for(m, backend) == fmt})
        raise ConfigError(
            f"{where}: variants names {variant!r}, which no backend in {', '.join(named)} loads: it is "
            f"{', '.join(f'{m.name} {fmt}' for m, fmt in holders)}, loaded by {', '.join(readers) or 'no backend'}; "
            f"add one of them to backends, or remove {variant!r} from variants"
        )


def _makers(model: ModelDef, named: Sequence[Backend]) -> str:
    """The declarable recipes that would give `model` a variant one of the named backends reads, as a hint."""
    readable = {fmt for backend in named if model.kind in backend.kinds for fmt in backend.formats}
    makers = [
        f"{r.name!r} ({r.reads} -> {r.writes})"
        for r in RECIPES.values()
        if r.declarable and r.reads in model.formats and r.writes in readable and (not r.kinds or model.kind in r.kinds)
    ]
    return f"; or declare a variant they read with recipe = {' or '.join(makers)}" if makers else ""


@dataclass(frozen=True)
class SuiteNames:
    """The models, backends and variants a suite's own declaration runs, before the command line's filters.

    What a filter that left the suite empty, or named nothing at all, is told to choose from: a list of every
    built-in variant (`4bit, 8bit, f16, ...`) sent a user of a two-variant suite hunting for theirs.
    """

    models: tuple[str, ...]
    backends: tuple[str, ...]
    variants: tuple[str, ...]  # in the order the suite runs them: each model's reference first


def suite_names(suite: SuiteConfig, models: Mapping[str, ModelDef], backends: Mapping[str, Backend]) -> SuiteNames:
    """Every model, backend and variant of `suite` that some (model, backend) pair of it can run."""
    found: tuple[dict[str, None], dict[str, None], dict[str, None]] = ({}, {}, {})
    for model_name in (m for m in suite.models or list(models) if m in models):
        model = models[model_name]
        for backend_name in (b for b in suite.backends or list(backends) if b in backends):
            fmt = family_for(model, backends[backend_name])
            if fmt is None:
                continue
            found[0][model_name] = found[1][backend_name] = None
            found[2].update(dict.fromkeys(_ordered_variants(model, fmt, suite.variants)))
    return SuiteNames(*(tuple(names) for names in found))


def nothing_selected(suite: SuiteConfig, names: SuiteNames, devices: Sequence[str], filters: Filters) -> str:
    """Why a suite expands to no case here, for the one skipped entry that says so.

    The suite's own declaration selects cases (check_loadable refuses one that does not), so what is
    left is this command line: a --model/--backend/--variant filter meant for another suite, or devices
    the suite does not run on. Without this, pytest says only 'got empty parameter set'. Each filter given
    is answered with what the suite itself runs in that place, so the user can pick from it.
    """
    if suite.devices is not None and not any(split_device(d)[0] in suite.devices for d in devices):
        return f"suite {suite.name} runs on {', '.join(suite.devices)}; --device={','.join(devices)} names none of them"
    given = [
        (option, values, own)
        for option, values, own in (
            ("model", filters.models, names.models),
            ("backend", filters.backends, names.backends),
            ("variant", filters.variants, names.variants),
        )
        if values is not None
    ]
    if given:
        named = " ".join(f"--{option}={','.join(values)}" for option, values, _ in given)
        runs = "; ".join(f"{option}s {', '.join(own)}" for option, _, own in given)
        return f"{named} selects none of suite {suite.name}'s cases; it runs {runs}: name those to run them"
    return f"suite {suite.name} has no case on this machine"


def expand(
    suite: SuiteConfig,
    models: Mapping[str, ModelDef],
    backends: Mapping[str, Backend],
    devices: Sequence[str],
    filters: Filters,
) -> list[Case]:
    """All cases of a suite, filtered; unavailable combinations carry a skip reason instead of vanishing."""
    for name in suite.models or ():
        if name not in models:
            raise ConfigError(f"suite {suite.name}: unknown model {name!r}; registered: {', '.join(models)}")
    for name in suite.backends or ():
        if name not in backends:
            raise ConfigError(f"suite {suite.name}: unknown backend {name!r}; registered: {', '.join(backends)}")
    suite_devices = [d for d in devices if suite.devices is None or split_device(d)[0] in suite.devices]
    cases: list[Case] = []
    for model_name in suite.models or list(models):
        if filters.models is not None and model_name not in filters.models:
            continue
        model = models[model_name]
        for backend_name in suite.backends or list(backends):
            backend = backends[backend_name]
            if filters.backends is not None and backend_name not in filters.backends:
                continue
            fmt = family_for(model, backend)
            if fmt is None:
                continue
            # Each reason is worked out once: a device check may start a runtime (OpenVINO's Core).
            device_reasons = {device: backend.unavailable_reason(device) for device in suite_devices}
            for variant in _ordered_variants(model, fmt, suite.variants):
                if filters.variants is not None and variant not in filters.variants:
                    continue
                model_reason = model.missing_requirement()
                tools_reason = missing_tools_for(model, fmt, variant)
                for device in suite_devices:
                    reason = model_reason or device_reasons[device] or tools_reason
                    reference = model.references[fmt]
                    cases.append(
                        Case(suite.name, model_name, variant, backend_name, device, reference, reason, fmt, model.kind)
                    )
    return cases
