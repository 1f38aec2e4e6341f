"""ONNX variants: optimum's exporter, onnxruntime's quantizers, and the digits classifier's export.

Every variant is a folder holding `model.onnx` beside the tokenizer and config files it was made
with, so a backend needs nothing but the folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchharness.errors import PrepareError
from benchharness.formats.base import Graph, check_folder
from benchharness.formats.composition import WeightComposition, composition

MODEL_FILE = "model.onnx"


def model_file(path: Path) -> Path:
    """The ONNX graph inside a variant folder (or the file itself)."""
    return path / MODEL_FILE if path.is_dir() else path


def copy_sidecar_files(source: Path, destination: Path) -> None:
    """Tokenizer and config files travel with every variant; the graph itself does not."""
    destination.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file() and not item.name.startswith(MODEL_FILE):
            shutil.copy2(item, destination / item.name)


def optimum_export(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
    """Recipe: optimum's ONNX exporter (what `optimum-cli export onnx` runs), validated against PyTorch."""
    import torch
    from optimum.exporters.onnx import main_export

    assert source is not None
    torch.set_num_threads(threads)
    main_export(str(source), output=destination, task=params["task"], local_files_only=True)
    if not (destination / MODEL_FILE).is_file():
        raise PrepareError(f"optimum wrote no {MODEL_FILE} into {destination}; see the child output")


def dynamic_int8(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
    """Recipe: onnxruntime's dynamic quantization (int8 weights, activations quantized at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    assert source is not None
    copy_sidecar_files(source, destination)
    quantize_dynamic(
        model_file(source),
        destination / MODEL_FILE,
        weight_type=QuantType[params["weight_type"]],
        per_channel=params["per_channel"],
        reduce_range=params["reduce_range"],
    )


def int4_weight_only(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
    """Recipe: onnxruntime's MatMulNBits quantizer (4-bit blocks, int8 compute on CPU, as onnxruntime-genai builds)."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    assert source is not None
    copy_sidecar_files(source, destination)
    quantizer = MatMulNBitsQuantizer(
        onnx.load(model_file(source)),
        block_size=params["block_size"],
        is_symmetric=params["is_symmetric"],
        accuracy_level=params["accuracy_level"],
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(destination / MODEL_FILE), use_external_data_format=False)


# Stored bits per element of the ONNX data types a weight or its scales can have.
_BITS = {
    "FLOAT": 32, "FLOAT16": 16, "BFLOAT16": 16, "DOUBLE": 64, "INT8": 8, "UINT8": 8, "INT4": 4, "UINT4": 4,
    "INT16": 16, "UINT16": 16, "INT32": 32, "UINT32": 32, "INT64": 64, "UINT64": 64, "BOOL": 8,
    "FLOAT8E4M3FN": 8, "FLOAT8E4M3FNUZ": 8, "FLOAT8E5M2": 8, "FLOAT8E5M2FNUZ": 8,
}  # fmt: skip
_FLOATS = {"FLOAT": "FP32", "FLOAT16": "FP16", "BFLOAT16": "BF16", "DOUBLE": "FP64"}
# Inputs that hold a quantized weight, and inputs that hold its scales / zero points (not parameters).
_QUANTIZED_INPUT = {"DequantizeLinear": 0, "MatMulNBits": 1, "GatherBlockQuantized": 0, "MatMulInteger": 1,
                    "QLinearMatMul": 3, "DynamicQuantizeMatMul": 1, "MatMulIntegerToFloat": 1,
                    "ConvInteger": 1, "QLinearConv": 3}  # fmt: skip
_METADATA_INPUTS = {"DequantizeLinear": {1, 2}, "QuantizeLinear": {1, 2}, "MatMulNBits": {2, 3, 4},
                    "GatherBlockQuantized": {2, 3}, "MatMulInteger": {2, 3}, "QLinearMatMul": {1, 2, 4, 5, 6, 7},
                    "DynamicQuantizeMatMul": {2, 3}, "MatMulIntegerToFloat": {2, 3, 4, 5}, "ConvInteger": {2, 3},
                    "QLinearConv": {1, 2, 4, 5, 6, 7}}  # fmt: skip


def _integer(data_type: str) -> str:
    """INT8 for INT8 and UINT8: a weight's width, whatever its zero point."""
    return data_type.removeprefix("U") if data_type.startswith("UINT") else data_type


def weight_composition(model_path: Path, requested: str | None) -> WeightComposition:
    """Parameters per precision from the graph's initializers, without reading external weight data.

    A quantized weight is an initializer at a quantized op's weight input (DequantizeLinear, MatMulNBits,
    MatMulInteger, ...); its scales and zero points are counted in the bytes only, as is onnxruntime's
    dynamic weight scale (a Mul beside DynamicQuantizeLinear's scale). Other floating initializers are
    unquantized weights; integer ones elsewhere are shapes and indices, not weights.
    """
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    uses: dict[str, list[tuple[Any, int]]] = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            uses.setdefault(name, []).append((node, index))

    def dynamic_scale(node: Any) -> bool:
        return node.op_type == "Mul" and any(
            (p := producers.get(i)) is not None and p.op_type == "DynamicQuantizeLinear" for i in node.input
        )

    counts: dict[str, int] = {}
    stored = 0.0
    for tensor in graph.initializer:
        data_type = onnx.TensorProto.DataType.Name(tensor.data_type)
        elements = int(np.prod(tensor.dims, dtype=np.int64)) if tensor.dims else 1
        consumers = uses.get(tensor.name, [])
        quantized = [node for node, i in consumers if _QUANTIZED_INPUT.get(node.op_type) == i]
        metadata = any(i in _METADATA_INPUTS.get(node.op_type, ()) or dynamic_scale(node) for node, i in consumers)
        if quantized:
            node = quantized[0]
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type == "MatMulNBits":
                dtype, params = f"INT{attributes.get('bits', 4)}", int(attributes["K"]) * int(attributes["N"])
            elif node.op_type == "GatherBlockQuantized" and data_type == "UINT8":
                bits = int(attributes.get("bits", 4))
                dtype, params = f"INT{bits}", elements * 8 // bits
            else:
                dtype, params = _integer(data_type), elements
        elif data_type in _FLOATS and not metadata:
            dtype, params = _FLOATS[data_type], elements
        elif metadata:
            stored += elements * _BITS.get(data_type, 32) / 8
            continue
        else:
            continue  # shapes, axes, indices
        counts[dtype] = counts.get(dtype, 0) + params
        stored += elements * _BITS.get(data_type, 32) / 8
    return composition(counts, round(stored), requested, (requested,) if requested else ())


def _mlp_graph(weights: list[Any], biases: list[Any]) -> Any:
    """The trained MLP as a plain ONNX graph (MatMul, Add, Relu, Softmax): every runtime reads these ops."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, initializers = [], []
    current = "pixels"
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        initializers += [
            numpy_helper.from_array(np.asarray(w, np.float32), f"w{i}"),
            numpy_helper.from_array(np.asarray(b, np.float32), f"b{i}"),
        ]
        nodes += [
            helper.make_node("MatMul", [current, f"w{i}"], [f"mm{i}"]),
            helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"z{i}"]),
        ]
        current = f"z{i}"
        if i < len(weights) - 1:
            nodes.append(helper.make_node("Relu", [current], [f"h{i}"]))
            current = f"h{i}"
    nodes.append(helper.make_node("Softmax", [current], ["probabilities"], axis=1))
    graph = helper.make_graph(
        nodes,
        "digits_mlp",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="benchharness")


def train_digits_mlp(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
    """Recipe: train an MLP on scikit-learn's bundled digits (fixed seed, so every machine gets the same one)."""
    import onnx
    from sklearn.neural_network import MLPClassifier

    from benchharness.tasks.classification import digits_split

    x_train, _, y_train, _ = digits_split()
    classifier = MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=300, random_state=0)
    classifier.fit(x_train, y_train)
    destination.mkdir(parents=True, exist_ok=True)
    model = _mlp_graph(classifier.coefs_, classifier.intercepts_)
    onnx.checker.check_model(model)
    onnx.save(model, destination / MODEL_FILE)


def static_int8(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
    """Recipe: onnxruntime's static QDQ quantization, calibrated on the training split (never the test split)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from benchharness.tasks.classification import digits_split

    assert source is not None
    x_train = digits_split()[0]

    class Calibration(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(np.array_split(x_train, 16))

        def get_next(self) -> dict[str, Any] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"pixels": batch}

    copy_sidecar_files(source, destination)
    quantize_static(
        model_file(source),
        destination / MODEL_FILE,
        Calibration(),
        quant_format=QuantFormat[params["quant_format"]],
        activation_type=QuantType[params["activation_type"]],
        weight_type=QuantType[params["weight_type"]],
        per_channel=params["per_channel"],
    )


@dataclass(frozen=True)
class OnnxFormat:
    """An ONNX graph: a folder holding model.onnx beside its tokenizer and config, or a bare .onnx file."""

    name: str = "onnx"
    suffixes: tuple[str, ...] = (".onnx",)
    graph: Graph = "onnx"

    def model_file(self, variant: Path) -> Path:
        return model_file(variant)

    def check(self, variant: Path) -> None:
        check_folder(self.name, variant, MODEL_FILE)

    def weight_composition(self, variant: Path, requested: str | None) -> WeightComposition | None:
        return weight_composition(model_file(variant), requested)


FORMAT = OnnxFormat()
