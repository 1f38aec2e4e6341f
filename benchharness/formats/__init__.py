"""The format registry: name -> Format. Adding a format is one module (see base.py) and one line here.

models/ (declaring, checking and preparing variants) and backends/ (loading them) both read formats
from here, and neither imports the other (tests/test_formats.py checks the direction).
"""

from __future__ import annotations

from pathlib import Path

from benchharness.errors import ConfigError
from benchharness.formats import gguf, hf, mlx, onnx, openvino, ortgenai
from benchharness.formats.base import Format

# In the order configuration errors list them.
FORMATS: dict[str, Format] = {
    f.name: f for f in (gguf.FORMAT, onnx.FORMAT, ortgenai.FORMAT, openvino.FORMAT, mlx.FORMAT, hf.FORMAT)
}


def format_of(path: Path, declared: str | None, where: str) -> str:
    """A config-declared file's format: as declared, or read off its suffix."""
    if declared:
        return declared
    for fmt in FORMATS.values():
        if path.suffix in fmt.suffixes:
            return fmt.name
    raise ConfigError(
        f"{where}: cannot tell the format of {path.name}; add format = 'gguf' | 'onnx' | 'openvino' | 'mlx'"
    )
