"""ONNX variants: optimum's exporter, onnxruntime's quantizers, and the digits classifier's export.

Every variant is a folder holding `model.onnx` beside the tokenizer and config files it was made
with, so a backend needs nothing but the folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benchharness.errors import PrepareError

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


def optimum_export(source: Path | None, destination: Path, params: Mapping[str, str], threads: int) -> None:
    """Recipe: optimum's ONNX exporter (what `optimum-cli export onnx` runs), validated against PyTorch."""
    import torch
    from optimum.exporters.onnx import main_export

    assert source is not None
    torch.set_num_threads(threads)
    main_export(str(source), output=destination, task=params["task"], local_files_only=True)
    if not (destination / MODEL_FILE).is_file():
        raise PrepareError(f"optimum wrote no {MODEL_FILE} into {destination}; see the child output")


def dynamic_int8(source: Path | None, destination: Path, params: Mapping[str, str], threads: int) -> None:
    """Recipe: onnxruntime's dynamic quantization (int8 weights, activations quantized at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    assert source is not None
    copy_sidecar_files(source, destination)
    quantize_dynamic(model_file(source), destination / MODEL_FILE, weight_type=QuantType.QInt8)


def int4_weight_only(source: Path | None, destination: Path, params: Mapping[str, str], threads: int) -> None:
    """Recipe: onnxruntime's MatMulNBits quantizer (4-bit blocks, int8 compute on CPU, as onnxruntime-genai builds)."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    assert source is not None
    copy_sidecar_files(source, destination)
    quantizer = MatMulNBitsQuantizer(
        onnx.load(model_file(source)), block_size=int(params["block_size"]), is_symmetric=True, accuracy_level=4
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(destination / MODEL_FILE), use_external_data_format=False)


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


def train_digits_mlp(source: Path | None, destination: Path, params: Mapping[str, str], threads: int) -> None:
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


def static_int8(source: Path | None, destination: Path, params: Mapping[str, str], threads: int) -> None:
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
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
