"""MLX variants: mlx-lm's own converter (fp16, and its 8-bit and 4-bit group quantization)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchharness.formats.base import Graph, check_folder
from benchharness.formats.composition import WeightComposition

CONFIG_FILE = "config.json"  # what marks a folder as mlx_lm.convert's output


def convert(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
    """Recipe: `mlx_lm.convert` from the FP32 checkpoint; q_bits absent means unquantized at `dtype`."""
    from mlx_lm import convert as mlx_convert

    assert source is not None
    bits = params["q_bits"]
    mlx_convert(
        str(source),
        mlx_path=str(destination),
        quantize=bits is not None,
        q_bits=bits if bits is not None else 4,
        q_group_size=params["q_group_size"],
        dtype=params["dtype"],
    )


@dataclass(frozen=True)
class MlxFormat:
    """An MLX folder as mlx_lm.convert writes it (config.json, safetensors, tokenizer); mlx-lm loads the folder."""

    name: str = "mlx"
    suffixes: tuple[str, ...] = ()  # a folder: told by format = 'mlx'
    graph: Graph | None = None

    def model_file(self, variant: Path) -> Path:
        return variant

    def check(self, variant: Path) -> None:
        check_folder(self.name, variant, CONFIG_FILE)

    def weight_composition(self, variant: Path, requested: str | None) -> WeightComposition | None:
        return None  # not read: its rows carry no composition


FORMAT = MlxFormat()
