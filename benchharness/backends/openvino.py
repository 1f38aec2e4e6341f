"""OpenVINO: stateful causal LMs exported by optimum-intel (the KV cache lives inside the infer
request), encoders, and classifiers read straight from ONNX.

Devices map one to one: cpu -> CPU, gpu -> GPU, npu -> NPU (OpenVINO's plugin names); a device
OpenVINO does not list here is a skip reason. This backend runs every variant with FP32 inference
precision and an FP32 KV cache, so the reference is FP32 end to end and variants differ only in
their weights (left to itself the CPU plugin may pick bf16 math or a u8 KV cache on some CPUs;
the `openvino-genai` backend runs with those defaults, as deployed). The settings in force are
read back from the compiled model and recorded with every result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from benchharness.backends.base import Backend, LoadOptions
from benchharness.backends.logits_lm import LogitsCausalLM
from benchharness.errors import ModelError
from benchharness.formats.onnx_last_logits import LOGITS_FROM
from benchharness.formats.openvino import model_file

OV_DEVICES = {"cpu": "CPU", "gpu": "GPU", "npu": "NPU"}


def compile_model(path: Path, device: str, threads: int, pin_fp32: bool = True, last_logits: bool = False) -> Any:
    """A compiled model; a file OpenVINO cannot read is a ModelError with the fix.

    `pin_fp32` forces FP32 math and KV cache on CPU (else the device's defaults); `last_logits`
    adds the `logits_from` input in front of the LM head (see logits_lm.py).
    """
    import openvino as ov

    graph = model_file(path)
    if not graph.is_file():
        raise ModelError(f"{graph} does not exist; re-run prepare or fix the path")
    core = ov.Core()
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if device == "cpu":
        config["INFERENCE_NUM_THREADS"] = threads
        if pin_fp32:
            config |= {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32"}
    try:
        model = core.read_model(graph)
        if last_logits:
            try:
                slice_before_lm_head(model)
            except ModelError as e:
                raise ModelError(f"{graph} is {e}") from None
        return core.compile_model(model, OV_DEVICES[device], config)
    except RuntimeError as e:
        raise ModelError(f"OpenVINO cannot load {graph}: {_reason(e)}; re-prepare or replace the file") from None


NOT_STATEFUL = "not a stateful causal LM (export it with optimum-intel, task text-generation-with-past)"


def slice_before_lm_head(model: Any) -> None:
    """Add input `logits_from` and slice the LM head's input from that position on (what OpenVINO GenAI's
    pipeline does with a fixed 'last position'), so prefill computes only the logits it needs."""
    import openvino as ov
    from openvino import opset13 as ops

    names = {name for i in model.inputs for name in i.get_names()}
    if not {"input_ids", "beam_idx"} <= names:
        raise ModelError(NOT_STATEFUL)
    node = model.outputs[0].get_node().input_value(0).get_node()
    while node.get_type_name() == "Convert":
        node = node.input_value(0).get_node()
    if node.get_type_name() != "MatMul":
        raise ModelError(
            f"a model whose logits are not made by a MatMul (found {node.get_type_name()}); cannot slice them"
        )
    start = ops.parameter([1], ov.Type.i64, name=LOGITS_FROM)
    start.output(0).get_tensor().set_names({LOGITS_FROM})
    hidden = node.input_value(0)
    end = ops.constant(np.array([np.iinfo(np.int64).max], dtype=np.int64))
    one = ops.constant(np.array([1], dtype=np.int64))
    sliced = ops.slice(hidden, start, end, one, one)
    node.input(0).replace_source_output(sliced.output(0))
    model.add_parameters([start])
    model.validate_nodes_and_infer_types()


def settings_of(compiled: Any) -> dict[str, str]:
    """The settings that change speed, as the compiled model reports them."""
    settings = {}
    for key in ("INFERENCE_PRECISION_HINT", "KV_CACHE_PRECISION", "INFERENCE_NUM_THREADS", "PERFORMANCE_HINT"):
        try:
            value = compiled.get_property(key)
        except RuntimeError:  # a plugin that does not report this property
            continue
        settings[key.lower()] = value.get_type_name() if hasattr(value, "get_type_name") else str(value)
    return settings


# OpenVINO's CPU properties (SUPPORTED_PROPERTIES of 2026.x) include no spin or wait policy to set.
NO_SPIN_PROPERTY = "not set: OpenVINO's CPU plugin has no property for its workers' busy-waiting (TBB's own policy)"


def _reason(error: Exception) -> str:
    """OpenVINO's message without its 'Exception from src/...cpp:N:' location lines."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Exception from src/", "Check '"))]
    return (useful or lines or [type(error).__name__])[0][:300]


class OvCausalLM(LogitsCausalLM):
    """Greedy generation with optimum-intel's stateful export: input_ids, attention_mask, position_ids, beam_idx."""

    def __init__(self, path: Path, device: str, options: LoadOptions, pin_fp32: bool = True) -> None:
        self._compiled = compile_model(path, device, options.threads, pin_fp32=pin_fp32, last_logits=True)
        names = {i.get_any_name() for i in self._compiled.inputs}
        if not {"input_ids", "beam_idx"} <= names:
            raise ModelError(f"{path} is {NOT_STATEFUL}")
        self._request = self._compiled.create_infer_request()
        self._has_position_ids = "position_ids" in names
        self.n_vocab = int(self._compiled.outputs[0].get_partial_shape()[-1].get_length())
        super().__init__(path)
        self._length = 0

    @property
    def runtime_settings(self) -> dict[str, str]:
        return settings_of(self._compiled) | {"prefill_logits": "last position only", "spinning": NO_SPIN_PROPERTY}

    def _run(self, tokens: Sequence[int], fresh: bool, logits_from: int) -> npt.NDArray[np.float32]:
        if fresh:
            self._request.reset_state()
            self._length = 0
        total = self._length + len(tokens)
        feeds = {
            "input_ids": np.asarray([tokens], dtype=np.int64),
            "attention_mask": np.ones((1, total), dtype=np.int64),
            "beam_idx": np.zeros(1, dtype=np.int32),
            LOGITS_FROM: np.array([logits_from], dtype=np.int64),
        }
        if self._has_position_ids:
            feeds["position_ids"] = np.arange(self._length, total, dtype=np.int64)[None]
        self._request.infer(feeds)
        self._length = total
        logits: npt.NDArray[np.float32] = self._request.get_output_tensor(0).data[0]
        return logits

    def close(self) -> None:
        self._request = None
        self._compiled = None


class OvTensorModel:
    def __init__(self, path: Path, device: str, options: LoadOptions) -> None:
        self._compiled = compile_model(path, device, options.threads)
        self._request = self._compiled.create_infer_request()
        self.input_names = tuple(i.get_any_name() for i in self._compiled.inputs)
        self._output_names = [o.get_any_name() for o in self._compiled.outputs]

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.float32]]:
        self._request.infer(dict(feeds))
        return {name: self._request.get_output_tensor(i).data.copy() for i, name in enumerate(self._output_names)}

    def close(self) -> None:
        self._request = None
        self._compiled = None


class OpenVinoBackend(Backend):
    name: ClassVar[str] = "openvino"
    runtime_module: ClassVar[str] = "openvino"
    extra: ClassVar[str] = "openvino"
    formats: ClassVar[tuple[str, ...]] = ("openvino", "onnx")
    kinds: ClassVar[frozenset[str]] = frozenset({"causal-lm", "encoder", "classifier"})
    devices: ClassVar[tuple[str, ...]] = ("cpu", "gpu", "npu")

    def device_support_reason(self, kind: str) -> str | None:
        import openvino as ov

        available = ov.Core().available_devices
        if not any(d.split(".")[0] == OV_DEVICES[kind] for d in available):
            return f"OpenVINO sees no {OV_DEVICES[kind]} device here (available: {', '.join(available)})"
        return None

    def runtime_version(self) -> str:
        import openvino as ov

        return f"openvino {ov.get_version()}"

    def load(self, path: Path, device: str, options: LoadOptions) -> OvCausalLM:
        return OvCausalLM(path, device, options)

    def load_tensor_model(self, path: Path, device: str, options: LoadOptions) -> OvTensorModel:
        return OvTensorModel(path, device, options)
