"""Recipes: how one variant file is made from another, with the field's own tools.

Each recipe names a function that runs inside a child process (a converter that crashes or eats
memory must not take the session down), the packages whose versions go into the cache key (a new
optimum or NNCF makes a new file instead of reusing a stale one), and whether it writes a file or
a folder. The functions live next to their format: gguf.py, hf.py, onnx.py, openvino.py, mlx.py.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from benchharness.errors import PrepareError
from benchharness.models.registry import ModelDef

# fn(source, destination, params, threads): source is None for recipes that start from nothing stored.
RecipeFunction = Callable[[Path | None, Path, Mapping[str, str], int], None]


@dataclass(frozen=True)
class Recipe:
    name: str
    function: str  # "module:function" run in the child process
    packages: tuple[str, ...]  # distributions whose versions key the cache
    output: Literal["file", "dir"]
    suffix: str = ""
    extra: str = ""  # pip extra that installs the tools
    check: str = ""  # "module:function" that rejects bad params before any work, if the recipe has one
    # At most how large the output is against its base, for the free-space check before a build
    # (a dequantizing conversion such as GGUF Q8_0 -> float32 weights grows about fourfold).
    size_factor: float = 1.0

    def tool_versions(self) -> str:
        versions = []
        for package in self.packages:
            try:
                versions.append(f"{package} {importlib.metadata.version(package)}")
            except importlib.metadata.PackageNotFoundError:
                versions.append(f"{package} absent")
        return ", ".join(versions)

    def missing_tools(self) -> str | None:
        absent = [p for p in self.packages if _absent(p)]
        if absent:
            return f"recipe {self.name} needs {', '.join(absent)} (pip install 'benchharness[{self.extra}]')"
        return None

    def load(self) -> RecipeFunction:
        function: RecipeFunction = _resolve(self.function)
        return function

    def check_params(self, params: Mapping[str, str]) -> None:
        """Raise the recipe's own error for parameters it cannot use (e.g. an unknown quantization type)."""
        if self.check:
            _resolve(self.check)(params)


def _resolve(path: str) -> Callable[..., None]:
    module, _, name = path.partition(":")
    function: Callable[..., None] = getattr(importlib.import_module(module), name)
    return function


def _absent(package: str) -> bool:
    try:
        importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return True
    return False


_M = "benchharness.models"
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "llama-quantize",
            f"{_M}.gguf_format:llama_quantize",
            ("llama-cpp-python",),
            "file",
            ".gguf",
            "llamacpp",
            check=f"{_M}.gguf_format:check_params",
        ),
        Recipe(
            "corpus-tokens",
            f"{_M}.gguf_format:tokenize_corpus",
            ("llama-cpp-python",),
            "file",
            ".npy",
            "llamacpp",
        ),
        Recipe(
            "hf-from-gguf",
            f"{_M}.hf_format:hf_from_gguf",
            ("transformers", "gguf", "torch", "accelerate"),
            "dir",
            "",
            "onnx",
            size_factor=4.0,
        ),
        Recipe(
            "optimum-onnx-export",
            f"{_M}.onnx_format:optimum_export",
            ("optimum-onnx", "transformers", "torch"),
            "dir",
            "",
            "onnx",
        ),
        Recipe("ort-dynamic-int8", f"{_M}.onnx_format:dynamic_int8", ("onnxruntime", "onnx"), "dir", "", "onnx"),
        Recipe(
            "ort-int4-weight-only",
            f"{_M}.onnx_format:int4_weight_only",
            ("onnxruntime", "onnx", "onnx-ir"),
            "dir",
            "",
            "onnx",
        ),
        Recipe("train-digits-mlp", f"{_M}.onnx_format:train_digits_mlp", ("scikit-learn", "onnx"), "dir", "", "onnx"),
        Recipe(
            "ort-static-int8",
            f"{_M}.onnx_format:static_int8",
            ("onnxruntime", "onnx", "scikit-learn"),
            "dir",
            "",
            "onnx",
        ),
        Recipe(
            "optimum-openvino-export",
            f"{_M}.openvino_format:optimum_export",
            ("optimum-intel", "openvino", "torch"),
            "dir",
            "",
            "openvino",
        ),
        Recipe("openvino-fp16", f"{_M}.openvino_format:fp16", ("openvino",), "dir", "", "openvino"),
        Recipe(
            "nncf-weight-compression",
            f"{_M}.openvino_format:compress_weights",
            ("openvino", "nncf"),
            "dir",
            "",
            "openvino",
        ),
        Recipe(
            "ort-genai-builder",
            f"{_M}.ortgenai_format:build",
            ("onnxruntime-genai", "transformers", "torch", "onnxruntime"),
            "dir",
            "",
            "ortgenai",
            check=f"{_M}.ortgenai_format:check_params",
        ),
        Recipe("mlx-convert", f"{_M}.mlx_format:convert", ("mlx-lm", "mlx"), "dir", "", "mlx"),
        # A derived artifact, not a variant: made beside a prepared variant (prepare.DERIVED_ARTIFACTS).
        Recipe("onnx-last-logits", "benchharness.backends.onnx_last_logits:make", ("onnx",), "dir", "", "onnx"),
    )
}


def missing_tools_for(model: ModelDef, fmt: str, label: str) -> str | None:
    """Why a variant cannot be made on this machine (a converter is not installed), or None."""
    for key in model.recipe_chain(fmt, label):
        name = model.variants[key].recipe
        if name is not None and (missing := recipe(name).missing_tools()):
            return f"{model.name} {fmt} {label}: {missing}"
    return None


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise PrepareError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]
