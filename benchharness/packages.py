"""Installed versions of the runtimes' packages, whichever distribution of a runtime is installed.

Several distributions install the same import: onnxruntime-gpu (CUDA), onnxruntime-openvino and
onnxruntime-directml all install the `onnxruntime` module, onnxruntime-genai-cuda the `onnxruntime_genai`
one. A recipe that needs "onnxruntime" runs with any of them, so asking importlib.metadata for the
distribution "onnxruntime" alone would call the tool missing on every NVIDIA machine (pip installs
onnxruntime-gpu there, README "NVIDIA GPUs") and skip its variants.
"""

from __future__ import annotations

import importlib.metadata

# The distribution a recipe or a fingerprint names -> every distribution that installs the same module,
# the plain (CPU) one first.
SAME_MODULE: dict[str, tuple[str, ...]] = {
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"),
    "onnxruntime-genai": ("onnxruntime-genai", "onnxruntime-genai-cuda", "onnxruntime-genai-directml"),
}


def installed(package: str) -> tuple[str, str] | None:
    """(distribution, version) of what provides `package` here, e.g. ("onnxruntime-gpu", "1.31.1") for
    "onnxruntime" on a CUDA machine; None when none of its distributions is installed."""
    for distribution in SAME_MODULE.get(package, (package,)):
        try:
            return distribution, importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None
