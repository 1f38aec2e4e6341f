"""OpenVINO IR variants: optimum-intel's exporter for the FP32 IR, then OpenVINO and NNCF on that IR.

Compressing the exported FP32 IR directly (instead of re-exporting from PyTorch per variant) is what
`optimum-cli export openvino --weight-format` does inside, minus the repeated trace: each variant
costs seconds, not a minute.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from benchharness.errors import PrepareError
from benchharness.models.onnx_format import copy_sidecar_files

MODEL_FILE = "openvino_model.xml"


def model_file(path: Path) -> Path:
    """The IR (or ONNX file, which OpenVINO reads too) inside a variant folder."""
    if not path.is_dir():
        return path
    for name in (MODEL_FILE, "model.onnx"):
        if (path / name).is_file():
            return path / name
    return path / MODEL_FILE


def _copy_sidecars(source: Path, destination: Path) -> None:
    copy_sidecar_files(source, destination)
    for name in (MODEL_FILE, MODEL_FILE.replace(".xml", ".bin")):
        (destination / name).unlink(missing_ok=True)


def optimum_export(source: Path | None, destination: Path, params: Mapping[str, str], threads: int) -> None:
    """Recipe: optimum-intel's exporter with FP32 weights (a stateful model: the KV cache lives in the runtime)."""
    import torch
    from optimum.exporters.openvino import main_export
    from optimum.intel import OVConfig

    assert source is not None
    torch.set_num_threads(threads)
    main_export(
        str(source), output=destination, task=params["task"], ov_config=OVConfig(dtype="fp32"), local_files_only=True
    )
    if not (destination / MODEL_FILE).is_file():
        raise PrepareError(f"optimum-intel wrote no {MODEL_FILE} into {destination}; see the child output")


def fp16(source: Path | None, destination: Path, params: Mapping[str, str], threads: int) -> None:
    """Recipe: the FP32 IR saved with FP16 weights (OpenVINO's compress_to_fp16)."""
    import openvino as ov

    assert source is not None
    _copy_sidecars(source, destination)
    ov.save_model(ov.Core().read_model(model_file(source)), destination / MODEL_FILE, compress_to_fp16=True)


def compress_weights(source: Path | None, destination: Path, params: Mapping[str, str], threads: int) -> None:
    """Recipe: NNCF weight compression (int8 per channel, or int4 in groups, embeddings and head kept at int8)."""
    import nncf
    import openvino as ov

    assert source is not None
    mode = nncf.CompressWeightsMode(params["mode"])
    options: dict[str, object] = {"mode": mode}
    if "group_size" in params:
        options |= {"group_size": int(params["group_size"]), "ratio": 1.0}
    model = ov.Core().read_model(model_file(source))
    compressed = nncf.compress_weights(model, **options)  # type: ignore[arg-type]
    _copy_sidecars(source, destination)
    ov.save_model(compressed, destination / MODEL_FILE, compress_to_fp16=False)
