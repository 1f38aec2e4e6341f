"""Installed versions of the runtimes' packages, whichever build of a runtime is the one imported.

Several distributions install the same import: onnxruntime-gpu (CUDA), onnxruntime-openvino and
onnxruntime-directml all install the `onnxruntime` module, onnxruntime-genai-cuda the `onnxruntime_genai`
one. A recipe that needs "onnxruntime" runs with any of them, so asking importlib.metadata for the
distribution "onnxruntime" alone would call the tool missing on every NVIDIA machine (pip installs
onnxruntime-gpu there, README "NVIDIA GPUs") and skip its variants. Where two are installed (a CPU build
in the environment, a CUDA build earlier on sys.path), the one named is the one `import` loads.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

# The distribution a recipe or a fingerprint names -> (the module they install, every distribution that
# installs it, the plain CPU one first).
SAME_MODULE: dict[str, tuple[str, tuple[str, ...]]] = {
    "onnxruntime": ("onnxruntime", ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml")),
    "onnxruntime-genai": (
        "onnxruntime_genai",
        ("onnxruntime-genai", "onnxruntime-genai-cuda", "onnxruntime-genai-directml"),
    ),
}


def installed(package: str) -> tuple[str, str] | None:
    """(distribution, version) of what provides `package` here, e.g. ("onnxruntime-gpu", "1.31.1") for
    "onnxruntime" on a CUDA machine; None when none of its distributions is installed."""
    module, names = SAME_MODULE.get(package, ("", (package,)))
    found: list[tuple[str, importlib.metadata.Distribution]] = []
    for name in names:
        try:
            found.append((name, importlib.metadata.distribution(name)))
        except importlib.metadata.PackageNotFoundError:
            continue
    if not found:
        return None
    if len(found) > 1 and (folder := _imported_from(module)) is not None:
        for name, distribution in found:
            if Path(str(distribution.locate_file(""))).resolve() == folder:
                return name, distribution.version
    name, distribution = found[0]
    return name, distribution.version


def _imported_from(module: str) -> Path | None:
    """The sys.path folder `import module` loads it from (None if it cannot be found)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve().parent
