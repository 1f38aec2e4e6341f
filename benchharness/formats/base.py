"""The Format protocol: what the harness knows about one file format, in one object.

A format is where a user's model enters (a GGUF file, an ONNX folder, an OpenVINO IR, a checkpoint
folder...). Both sides read the same object: models/ (declaring, checking and preparing variants)
and backends/ (loading them), so neither has to ask the other where a variant's model file is.

A format's recipes (the functions that make its variants with the field's own tool) live in its
module beside its object; models/recipes.py's RECIPES declares each one by its `reads` and
`writes` format and names the function by "benchharness.formats.<module>:<function>".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from benchharness.errors import ModelError

if TYPE_CHECKING:
    from benchharness.formats.composition import WeightComposition

# The graph a format's model file holds, for the readers that walk one (models/traffic.py).
Graph = Literal["gguf", "onnx", "openvino"]


@runtime_checkable
class Format(Protocol):
    """One file format; adding one is a module with a frozen object like this and a line in FORMATS."""

    @property
    def name(self) -> str:
        """The name configuration uses (`format = 'onnx'`) and variant keys carry."""
        ...

    @property
    def suffixes(self) -> tuple[str, ...]:
        """File suffixes that name this format when a declaration gives none (empty: told by `format` only)."""
        ...

    @property
    def graph(self) -> Graph | None:
        """The graph its model file holds, for the readers that walk one; None where none is read."""
        ...

    def model_file(self, variant: Path) -> Path:
        """The file a runtime loads inside a variant (a folder), or the variant itself (a file)."""
        ...

    def check(self, variant: Path) -> None:
        """Fail early, with the fix, on a variant that is missing or plainly not of this format (ModelError)."""
        ...

    def weight_composition(self, variant: Path, requested: str | None) -> WeightComposition | None:
        """Parameters per stored type, read from the variant's files; None where this format is not read.

        ImportError where the reading package is absent (the caller treats that as not read).
        """
        ...


def check_folder(fmt: str, path: Path, expected: str | None) -> None:
    """The check every folder format shares: the path exists, and a folder holds the file `expected`."""
    if not path.exists():
        raise ModelError(f"{fmt} model {path} does not exist; fix the path in your config")
    if path.is_dir() and expected and not (path / expected).is_file():
        raise ModelError(f"{path} is not a {fmt} model folder (no {expected}); point the config at the model's folder")
