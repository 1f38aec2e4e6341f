"""A model's context length (the longest sequence it was trained for), read from its own files.

Asking a runtime for more than the model holds fails only in the child, minutes in, as the
runtime's own message (ORT GenAI: `max_length (9009) cannot be greater than model context_length
(8192)`). Each format says its context in a file the harness can read without loading weights: GGUF
metadata (`<arch>.context_length`), ORT GenAI's genai_config.json, a checkpoint's or an export's
config.json. A recipe (quantizing, exporting) keeps its source's context, so a variant that is not
prepared yet has the context of the file its recipe chain starts from.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchharness.errors import BenchHarnessError
from benchharness.models.registry import ModelDef

# config.json keys for the longest sequence, in the order transformers' model families use them.
CONFIG_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


@dataclass(frozen=True)
class ContextLength:
    """How many tokens a model's context holds, and the file that says so."""

    tokens: int
    source: Path


def context_length(fmt: str, path: Path) -> ContextLength | None:
    """The context a variant's files declare, or None where they declare none (or cannot be read)."""
    try:
        if fmt == "gguf":
            return _gguf(path)
        folder = path if path.is_dir() else path.parent
        if fmt == "ortgenai":
            found = _json_int(folder / "genai_config.json", ("model", "context_length"))
            if found is not None:
                return found
        for key in CONFIG_KEYS:
            found = _json_int(folder / "config.json", (key,))
            if found is not None:
                return found
    except (OSError, ValueError, IndexError, KeyError):
        return None  # an unreadable file is the format check's to report, with its own fix
    return None


def known_context(model: ModelDef, fmt: str, label: str) -> ContextLength | None:
    """The context of a variant, read before it is prepared from the file its recipe chain starts from.

    None where that file is not there yet (a model trained by a recipe, a missing package): the
    session then reads the prepared variant itself.
    """
    first = model.variants[model.recipe_chain(fmt, label)[0]]
    if first.locate is None:
        return None
    try:
        path = first.locate()
    except BenchHarnessError:
        return None
    return context_length(first.format, path) if path.exists() else None


def _json_int(path: Path, keys: tuple[str, ...]) -> ContextLength | None:
    if not path.is_file():
        return None
    value: Any = json.loads(path.read_text())
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return ContextLength(value, path)
    return None


def _gguf(path: Path) -> ContextLength | None:
    """`<general.architecture>.context_length` through the gguf package (llama.cpp's own reader)."""
    if not path.is_file() or importlib.util.find_spec("gguf") is None:
        return None
    from gguf import GGUFReader

    reader = GGUFReader(path)
    arch_field = reader.fields.get("general.architecture")
    if arch_field is None:
        return None
    arch = bytes(arch_field.parts[arch_field.data[0]]).decode()
    field = reader.fields.get(f"{arch}.context_length")
    if field is None:
        return None
    value = int(field.parts[field.data[0]][0])
    return ContextLength(value, path) if value > 0 else None
