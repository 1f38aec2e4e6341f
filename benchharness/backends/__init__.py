"""The backend registry: name -> Backend class. Adding a runtime is one module and one line here.

Third-party packages (and the test-suite's planted backends) add theirs with `register`, or through
the `benchharness.backends` entry-point group.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from benchharness.backends.base import Backend
from benchharness.backends.llamacpp import LlamaCppBackend
from benchharness.backends.mlx import MlxBackend
from benchharness.backends.onnxruntime import OnnxRuntimeBackend
from benchharness.backends.openvino import OpenVinoBackend
from benchharness.backends.openvino_genai import OpenVinoGenAiBackend
from benchharness.backends.ortgenai import OrtGenAiBackend

_REGISTRY: dict[str, type[Backend]] = {
    b.name: b
    for b in (LlamaCppBackend, OnnxRuntimeBackend, OrtGenAiBackend, OpenVinoBackend, OpenVinoGenAiBackend, MlxBackend)
}
_entry_points_loaded = False


def register(backend: type[Backend]) -> type[Backend]:
    """Add (or replace) a backend under its `name`; usable as a class decorator."""
    _REGISTRY[backend.name] = backend
    return backend


def registry() -> dict[str, type[Backend]]:
    global _entry_points_loaded
    if not _entry_points_loaded:
        for ep in entry_points(group="benchharness.backends"):
            register(ep.load())
        _entry_points_loaded = True
    return dict(_REGISTRY)


def import_path(backend: type[Backend]) -> str:
    """'module:Class', so a child process can import the same backend class."""
    return f"{backend.__module__}:{backend.__qualname__}"
