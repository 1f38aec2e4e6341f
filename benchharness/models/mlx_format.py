"""MLX variants: mlx-lm's own converter (fp16, and its 8-bit and 4-bit group quantization)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def convert(source: Path | None, destination: Path, params: Mapping[str, str], threads: int) -> None:
    """Recipe: `mlx_lm.convert` from the FP32 checkpoint; q_bits absent means unquantized at `dtype`."""
    from mlx_lm import convert as mlx_convert

    assert source is not None
    bits = params.get("q_bits")
    mlx_convert(
        str(source),
        mlx_path=str(destination),
        quantize=bits is not None,
        q_bits=int(bits) if bits else 4,
        dtype=params["dtype"],
    )
