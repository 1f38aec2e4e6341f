"""OpenVINO IR variants: optimum-intel's exporter for the FP32 IR, then OpenVINO and NNCF on that IR.

Compressing the exported FP32 IR directly (instead of re-exporting from PyTorch per variant) is what
`optimum-cli export openvino --weight-format` does inside, minus the repeated trace: each variant
costs seconds, not a minute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchharness.errors import PrepareError
from benchharness.formats.base import Graph, check_folder
from benchharness.formats.composition import WeightComposition, composition
from benchharness.formats.onnx import copy_sidecar_files

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


def optimum_export(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
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


def fp16(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
    """Recipe: the FP32 IR saved with FP16 weights (OpenVINO's compress_to_fp16)."""
    import openvino as ov

    assert source is not None
    _copy_sidecars(source, destination)
    ov.save_model(ov.Core().read_model(model_file(source)), destination / MODEL_FILE, compress_to_fp16=True)


def compress_weights(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
    """Recipe: NNCF weight compression (int8 per channel, or 4-bit groups, embeddings and head kept at int8).

    INT8 modes take no other option (NNCF refuses group_size, ratio and all_layers there; the
    declaration refuses them at start-up); a 4-bit mode passes ratio and whatever else was declared.
    """
    import nncf
    import openvino as ov

    assert source is not None
    mode = nncf.CompressWeightsMode(params["mode"])
    options: dict[str, object] = {"mode": mode}
    if not params["mode"].startswith("int8"):
        options["ratio"] = params["ratio"]
        options |= {k: params[k] for k in ("group_size", "all_layers") if params[k] is not None}
    model = ov.Core().read_model(model_file(source))
    compressed = nncf.compress_weights(model, **options)  # type: ignore[arg-type]
    _copy_sidecars(source, destination)
    ov.save_model(compressed, destination / MODEL_FILE, compress_to_fp16=False)


_OV_FLOATS = {"f32": "FP32", "f16": "FP16", "bf16": "BF16", "f64": "FP64"}


def _decompression_scale(constant: Any) -> bool:
    """A float constant multiplied into a decompressed weight (NNCF's scale): bytes, not parameters."""
    for target in constant.output(0).get_target_inputs():
        node = target.get_node()
        if node.get_type_name() == "Convert":  # an f16 scale converted to f32 first
            return any(_decompression_scale_at(t) for t in node.output(0).get_target_inputs())
        if _decompression_scale_at(target):
            return True
    return False


def _decompression_scale_at(target: Any) -> bool:
    node = target.get_node()
    if node.get_type_name() != "Multiply":
        return False
    other = node.input_value(1 - target.get_index()).get_node()
    return other.get_type_name() in ("Convert", "Subtract")


def _zero_point(constant: Any) -> bool:
    """A low-bit integer constant subtracted from a weight (NNCF's zero point), possibly after a Convert."""
    for target in constant.output(0).get_target_inputs():
        node = target.get_node()
        if node.get_type_name() == "Convert":
            targets = list(node.output(0).get_target_inputs())
            if any(t.get_node().get_type_name() == "Subtract" and t.get_index() == 1 for t in targets):
                return True
        elif node.get_type_name() == "Subtract" and target.get_index() == 1:
            return True
    return False


def weight_composition(model_path: Path, requested: str | None) -> WeightComposition:
    """Parameters per precision from the IR's Constant nodes (OpenVINO reads the graph; weights stay mapped).

    Low-bit integer constants are compressed weights (INT8, INT4: NNCF stores u8/u4 with a zero point),
    their zero points and scales count in the bytes only; other floating constants are weights kept
    at their precision (f16 ones are FP16 weights decompressed at load). Integer constants wider than
    8 bits are shapes and axes, not weights.
    """
    import openvino as ov

    counts: dict[str, int] = {}
    stored = 0.0
    for op in ov.Core().read_model(model_path).get_ops():
        if op.get_type_name() != "Constant":
            continue
        element = op.get_output_element_type(0)
        name = element.get_type_name()
        elements = int(np.prod(list(op.get_output_shape(0)), dtype=np.int64))
        size = elements * element.bitwidth / 8
        if name in _OV_FLOATS:
            if _decompression_scale(op):
                stored += size
                continue
            dtype = _OV_FLOATS[name]
        elif element.is_integral() and element.bitwidth <= 8 and name != "boolean":
            if _zero_point(op):
                stored += size
                continue
            dtype = f"INT{element.bitwidth}"
        else:
            continue
        counts[dtype] = counts.get(dtype, 0) + elements
        stored += size
    return composition(counts, round(stored), requested, (requested,) if requested else ())


@dataclass(frozen=True)
class OpenVinoFormat:
    """An OpenVINO IR folder (openvino_model.xml and .bin beside the tokenizer), or a bare .xml file."""

    name: str = "openvino"
    suffixes: tuple[str, ...] = (".xml",)
    graph: Graph = "openvino"

    def model_file(self, variant: Path) -> Path:
        return model_file(variant)

    def check(self, variant: Path) -> None:
        check_folder(self.name, variant, MODEL_FILE)

    def weight_composition(self, variant: Path, requested: str | None) -> WeightComposition | None:
        return weight_composition(model_file(variant), requested)


FORMAT = OpenVinoFormat()
