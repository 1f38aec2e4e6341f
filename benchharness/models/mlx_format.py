"""MLX variants: mlx-lm's own converter (fp16, and its 8-bit and 4-bit group quantization)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


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
